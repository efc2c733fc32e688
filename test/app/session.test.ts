import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { Browser, latestSmsCode, newUser, signUp } from './helpers.js';

async function signedUp(t: TestSystem) {
  const u = newUser();
  const b = new Browser(t.url);
  await signUp(b, u);
  expect((await b.del('/session')).status).toBe(200);
  return { u, to: `+1${u.phone}` };
}

forEachDatabase((kind) => {
  describe(`login with password then SMS code on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, env: { LOGIN_PER_ACCOUNT_LIMIT: '4', LOGIN_PER_IP_LIMIT: '60' } });
    });
    afterAll(async () => {
      await t?.stop();
    });

    it('when a user without an authenticator logs in then an SMS goes out and its code logs them in with a rotated token', async () => {
      const { u, to } = await signedUp(t);
      const b = new Browser(t.url);
      const r = await b.post('/session', { email: u.email, password: u.password });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ state: 'code', via: 'sms' });
      const half = b.cookie;
      expect(half).toBeDefined();
      // Half-logged-in reaches nothing protected.
      expect((await b.get('/user')).status).toBe(401);
      expect((await b.post('/user/authenticators', {})).status).toBe(401);
      const { code } = await latestSmsCode(t.url, to);
      const v = await b.post('/session/verify', { code });
      expect(v.status).toBe(200);
      expect(v.body).toEqual({ state: 'logged_in' });
      expect(b.cookie).not.toBe(half);
      expect((await b.get('/user')).status).toBe(200);
      // The half token died with the rotation.
      const old = new Browser(t.url);
      old.cookie = half;
      expect((await old.get('/user')).status).toBe(401);
      expect((await old.post('/session/verify', { code })).status).toBe(401);
    });

    it('when the email is unknown or the password wrong then the same 401 body', async () => {
      const { u } = await signedUp(t);
      const b = new Browser(t.url);
      const wrong = await b.post('/session', { email: u.email, password: 'not the password' });
      const unknown = await b.post('/session', { email: `nobody.${u.email}`, password: 'not the password' });
      expect(wrong.status).toBe(401);
      expect(unknown.status).toBe(401);
      expect(wrong.body).toEqual(unknown.body);
      expect(b.cookie).toBeUndefined();
    });

    it('when the login body is invalid then 400, and without Origin then 403', async () => {
      const b = new Browser(t.url);
      expect((await b.post('/session', { email: 'x', password: 'y' })).status).toBe(400);
      expect((await b.post('/session', { email: ['a@b.c'], password: 'y' })).status).toBe(400);
      expect((await b.post('/session', { email: 'a@b.c', password: 'y'.repeat(10_000) })).status).toBe(400);
      expect((await b.post('/session', { email: 'a@b.c', password: 'whatever1' }, { origin: 'null' })).status).toBe(403);
    });

    it('when resend is asked twice within the cool-down then the second answers 429 with retry_after', async () => {
      const { u, to } = await signedUp(t);
      const b = new Browser(t.url);
      expect((await b.post('/session', { email: u.email, password: u.password })).status).toBe(200);
      const before = await latestSmsCode(t.url, to);
      const r = await b.post('/session/resend', {});
      expect(r.status).toBe(429);
      expect(r.body.code).toBe('COOL_DOWN');
      expect(r.body.retry_after).toBeGreaterThan(0);
      expect(r.body.retry_after).toBeLessThanOrEqual(30);
      expect((await latestSmsCode(t.url, to)).count).toBe(before.count);
    });

    it('when second-factor routes are called without a login in progress then 401', async () => {
      const b = new Browser(t.url);
      expect((await b.get('/authy/status')).status).toBe(401);
      expect((await b.post('/session/verify', { code: '123456' })).status).toBe(401);
      expect((await b.post('/session/resend', {})).status).toBe(401);
      expect((await b.post('/session/complete', {})).status).toBe(401);
      expect((await b.get('/user')).status).toBe(401);
      expect((await b.del('/session')).status).toBe(401);
      expect((await b.del('/user/authenticators/abc')).status).toBe(401);
      expect((await b.post('/user/totp-app', {})).status).toBe(401);
      expect((await b.post('/user/totp-app/confirm', { code: '123456' })).status).toBe(401);
      // A forged cookie is no session.
      b.cookie = `twofold=${'A'.repeat(43)}`;
      expect((await b.get('/user')).status).toBe(401);
    });

    it('when a logged-in user revokes a malformed device id or asks a TOTP confirm with a bad code then 400', async () => {
      const b = new Browser(t.url);
      await signUp(b, newUser());
      expect((await b.del('/user/authenticators/' + encodeURIComponent('../x'))).status).toBe(400);
      expect((await b.post('/user/totp-app/confirm', { code: 'abcdef' })).status).toBe(400);
      const wrong = await b.post('/user/totp-app/confirm', { code: '000000' });
      expect(wrong.status).toBe(400);
      expect(wrong.body.code).toBe('CODE_INVALID');
      const app = await b.post('/user/totp-app', {});
      expect(app.status).toBe(201);
      expect(String(app.body.uri)).toMatch(/^otpauth:\/\/totp\//);
      expect(String(app.body.qr_code)).toMatch(/^data:image\/png;base64,/);
    });
  });
});
