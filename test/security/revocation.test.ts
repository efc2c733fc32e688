// Threat: a logout or a device revocation that only takes effect later (cached sessions, device
// keys still trusted, an answer already in flight), leaving a stolen cookie or phone usable.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, newUser, TestDevice, signUp } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { passwordStep, pendingFor, totpAt, userWithTotp } from './helpers.js';

forEachDatabase((kind) => {
  describe(`logout and device revocation on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(() => t.stop());

    it('when logged out then the old token is refused at once, by every route, even in a burst right after', async () => {
      const b = new Browser(t.url);
      await signUp(b, newUser());
      const token = b.cookie;
      const copy = new Browser(t.url);
      copy.cookie = token;
      expect((await copy.get('/user')).status).toBe(200);
      expect((await b.del('/session')).status).toBe(200);
      const burst = await Promise.all([
        ...Array.from({ length: 10 }, () => copy.get('/user')),
        copy.post('/user/authenticators', {}),
        copy.post('/user/totp-app', {}),
        copy.del('/session'),
      ]);
      expect(burst.map((r) => r.status)).toEqual(Array(13).fill(401));
      const row = await t.system.db.selectFrom('app_sessions').select('token_hash').where('user_id', '=', (await t.system.db.selectFrom('app_users').select('id').orderBy('id', 'desc').executeTakeFirstOrThrow()).id).execute();
      expect(row).toEqual([]);
    });

    it('when a half-logged-in browser logs out then its login attempt cannot be finished with the old cookie', async () => {
      const { u, secret } = await userWithTotp(t);
      const { b } = await passwordStep(t, u, 'code');
      const half = b.cookie;
      expect((await b.del('/session')).status).toBe(200);
      const old = new Browser(t.url);
      old.cookie = half;
      expect((await old.post('/session/verify', { code: totpAt(secret, Date.now()) })).status).toBe(401);
      expect((await old.get('/user')).status).toBe(401);
    });

    it('when the user revokes a device then its signed requests are refused at once and its answer to a pending login is refused', async () => {
      const u = newUser();
      const owner = new Browser(t.url);
      await signUp(owner, u);
      const act = await owner.post('/user/authenticators', { name: 'Lost phone' });
      const device = await TestDevice.activate(t.url, (act.body.activation as { link: string }).link);
      // A login is waiting for this device's approval when the phone is reported lost.
      const login = await passwordStep(t, u, 'approve');
      const [req] = await pendingFor(device, 1);
      expect((await owner.del(`/user/authenticators/${device.id}`)).status).toBe(200);
      // Immediately: listing, answering (approve and deny), all refused with the generic 401.
      const answers = await Promise.all([device.answer(req!, 'approve', login.number), device.answer(req!, 'deny', null)]);
      expect(answers.map((a) => a.status)).toEqual([401, 401]);
      await expect(device.pending()).rejects.toThrow(/401/);
      expect((await login.b.get('/authy/status')).body.status).toBe('pending');
      expect((await login.b.post('/session/complete', {})).status).toBe(409);
      expect((await login.b.get('/user')).status).toBe(401);
      // The user page no longer lists it, and a new login falls back to a code (no device left).
      expect((await owner.get('/user')).body.devices).toEqual([]);
      expect((await passwordStep(t, u)).body.state).toBe('code');
      const types = ((await owner.get('/user')).body.events as { type: string; outcome: string }[]).map((e) => `${e.type}:${e.outcome}`);
      expect(types).toContain('device_revoked:success');
    });

    it('when a revoked device answers concurrently with its revocation then no approval is recorded after the revocation', async () => {
      const u = newUser();
      const owner = new Browser(t.url);
      await signUp(owner, u);
      const act = await owner.post('/user/authenticators', {});
      const device = await TestDevice.activate(t.url, (act.body.activation as { link: string }).link);
      const login = await passwordStep(t, u, 'approve');
      const [req] = await pendingFor(device, 1);
      const [revoke, ...answers] = await Promise.all([owner.del(`/user/authenticators/${device.id}`), ...Array.from({ length: 5 }, () => device.answer(req!, 'approve', login.number))]);
      expect(revoke.status).toBe(200);
      // Either an answer won before the revocation (then exactly one), or none did.
      expect(answers.filter((a) => a.status === 200).length).toBeLessThanOrEqual(1);
      expect(answers.map((a) => a.status).filter((s) => ![200, 401, 403, 409].includes(s))).toEqual([]);
      // From now on nothing it sends is accepted.
      expect((await device.answer(req!, 'deny', null)).status).toBe(401);
    });
  });
});
