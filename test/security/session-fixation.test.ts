// Threat: session fixation — a session token known before login (planted by an attacker, or the
// one from the password step) still works after the login completes, so every step must issue a
// new token and end the old one.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, latestSmsCode, newUser, signUp } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { pendingFor, totpAt, userWithDevice, userWithTotp } from './helpers.js';

forEachDatabase((kind) => {
  describe(`session fixation on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(() => t.stop());

    const withCookie = (cookie: string | undefined) => {
      const b = new Browser(t.url);
      b.cookie = cookie;
      return b;
    };

    it('when a logged-in browser logs in again with a code then cookie before ≠ after password ≠ after the code, and each old one is refused', async () => {
      const { u, secret } = await userWithTotp(t);
      const b = new Browser(t.url);
      // Before: a full session of the same user (e.g. a shared computer), and a planted cookie.
      expect((await b.post('/session', { email: u.email, password: u.password })).status).toBe(200);
      expect((await b.post('/session/verify', { code: totpAt(secret, Date.now()) })).status).toBe(200);
      const before = b.cookie!;
      expect((await withCookie(before).get('/user')).status).toBe(200);
      expect((await b.post('/session', { email: u.email, password: u.password })).status).toBe(200);
      const afterPassword = b.cookie!;
      expect(afterPassword).not.toBe(before);
      expect((await withCookie(before).get('/user')).status).toBe(401);
      const { code } = await latestSmsCode(t.url, `+1${u.phone}`);
      expect((await b.post('/session/verify', { code })).status).toBe(200);
      const afterCode = b.cookie!;
      expect(new Set([before, afterPassword, afterCode]).size).toBe(3);
      expect((await withCookie(afterPassword).get('/user')).status).toBe(401);
      expect((await withCookie(afterPassword).post('/session/verify', { code })).status).toBe(401);
      expect((await withCookie(afterPassword).get('/authy/status')).status).toBe(401);
      expect((await withCookie(before).get('/user')).status).toBe(401);
      expect((await withCookie(afterCode).get('/user')).status).toBe(200);
    });

    it('when an attacker plants a cookie before the victim logs in then the login issues another token and the planted one stays worthless', async () => {
      const { u, device } = await userWithDevice(t);
      const planted = `twofold=${randomBytes(32).toString('base64url')}`;
      const victim = withCookie(planted);
      const login = await victim.post('/session', { email: u.email, password: u.password });
      expect(login.body.state).toBe('approve');
      const afterPassword = victim.cookie!;
      expect(afterPassword).not.toBe(planted);
      const [req] = await pendingFor(device, 1);
      expect((await device.answer(req!, 'approve', String(login.body.number))).status).toBe(200);
      // The attacker holding the planted cookie, or the half one, cannot finish the login.
      await new Promise((r) => setTimeout(r, 200));
      expect((await withCookie(planted).post('/session/complete', {})).status).toBe(401);
      expect((await victim.post('/session/complete', {})).status).toBe(200);
      const afterApproval = victim.cookie!;
      expect(new Set([planted, afterPassword, afterApproval]).size).toBe(3);
      for (const old of [planted, afterPassword]) {
        expect((await withCookie(old).get('/user')).status).toBe(401);
        expect((await withCookie(old).post('/session/complete', {})).status).toBe(401);
      }
      expect((await withCookie(afterApproval).get('/user')).status).toBe(200);
    });

    it('when signup sets a cookie then a later login replaces it and the signup cookie is refused', async () => {
      const b = new Browser(t.url);
      const fresh = newUser();
      await signUp(b, fresh);
      const signupCookie = b.cookie!;
      expect((await b.post('/session', { email: fresh.email, password: fresh.password })).status).toBe(200);
      expect(b.cookie).not.toBe(signupCookie);
      expect((await withCookie(signupCookie).get('/user')).status).toBe(401);
    });
  });
});
