// Threat: Mallory knows Vera's phone number and signs up with a new email and that number. Before
// each account owned its second factor, the service gave both accounts the same user, so
// Mallory's page listed (and removed) Vera's authenticators, handed out Vera's TOTP secret,
// enrolled Mallory's device on Vera's account, and let ten wrong codes lock Vera out. Each attack
// step below must fail, first because Mallory cannot prove a phone she does not hold, and again
// (defence in depth) even if she could read Vera's texts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, TestDevice, e164Of, latestSmsCode, newUser, signUp } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { otherCode, pendingFor, totpAt } from './helpers.js';

interface Person {
  u: ReturnType<typeof newUser>;
  b: Browser;
  device: TestDevice;
}

/** Sign up (reading the phone code from the outbox), enrol an authenticator, stay logged in. */
async function personWithDevice(t: TestSystem, u: ReturnType<typeof newUser>): Promise<Person> {
  const b = new Browser(t.url);
  await signUp(b, u);
  const act = await b.post('/user/authenticators', {});
  expect(act.status).toBe(201);
  const device = await TestDevice.activate(t.url, (act.body.activation as { link: string }).link);
  return { u, b, device };
}

const authyIdOf = async (t: TestSystem, email: string) =>
  (await t.system.db.selectFrom('app_users').select('authy_id').where('email', '=', email.toLowerCase()).executeTakeFirstOrThrow()).authy_id;

forEachDatabase((kind) => {
  describe(`shared-phone takeover on ${kind}`, () => {
    let t: TestSystem;
    let vera: Person;
    let mallory: Person;
    beforeAll(async () => {
      // Many texts go to one number here (signups, logins past the push cap): the per-phone SMS
      // cap is not what this suite is about.
      t = await startTestSystem({ db: kind, env: { SMS_PER_PHONE_LIMIT: '50' } });
      vera = await personWithDevice(t, newUser({ fullName: 'Vera' }));
      // Mallory, for the defence-in-depth steps, reads Vera's texts (a SIM swap, a recycled number).
      mallory = await personWithDevice(t, newUser({ fullName: 'Mallory', phone: vera.u.phone }));
    });
    afterAll(async () => {
      await t?.stop();
    });

    it('when Mallory signs up with Vera\'s number but cannot read Vera\'s texts then no account is created', async () => {
      const b = new Browser(t.url);
      const m = newUser({ phone: vera.u.phone });
      expect((await b.post('/user', m)).status).toBe(202);
      // The code went to Vera's phone, not to Mallory.
      const sms = await latestSmsCode(t.url, e164Of(vera.u));
      expect(sms.code).toMatch(/^\d{6}$/);
      for (let i = 0; i < 5; i++) await b.post('/user/verify-phone', { code: otherCode(sms.code) });
      expect((await b.get('/user')).status).toBe(401);
      expect((await new Browser(t.url).post('/session', { email: m.email, password: m.password })).status).toBe(401);
    });

    it('when both accounts hold the same number then each has its own service user', async () => {
      const v = await authyIdOf(t, vera.u.email);
      const m = await authyIdOf(t, mallory.u.email);
      expect(v).not.toBeNull();
      expect(m).not.toBeNull();
      expect(m).not.toBe(v);
    });

    it('(step 1) when Mallory opens her account page then Vera\'s authenticators are not listed and cannot be removed', async () => {
      const page = await mallory.b.get('/user');
      const ids = (page.body.devices as { id: string }[]).map((d) => d.id);
      expect(ids).toEqual([mallory.device.id]);
      expect(ids).not.toContain(vera.device.id);
      const r = await mallory.b.del(`/user/authenticators/${vera.device.id}`);
      expect(r.status).toBe(404);
      // Vera's device still works.
      expect(await vera.device.pending()).toEqual([]);
    });

    it('(step 2) when Mallory asks for a TOTP secret then it is not Vera\'s', async () => {
      const r = await mallory.b.post('/user/totp-app', {});
      expect(r.status).toBe(201);
      const secret = new URL(String(r.body.uri)).searchParams.get('secret');
      expect(secret).not.toBe(vera.device.totpSecret);
      expect(secret).not.toBe(mallory.device.totpSecret);
      // Codes of Mallory's new secret are no use against Vera's login.
      const login = new Browser(t.url);
      expect((await login.post('/session', { email: vera.u.email, password: vera.u.password })).status).toBe(200);
      const code = await login.post('/session/verify', { code: totpAt(secret!, Date.now()) });
      expect(code.status).toBe(400);
      expect((await login.get('/user')).status).toBe(401);
    });

    it('(step 3) when Mallory adds her authenticator then Vera\'s page does not list it and it never receives Vera\'s pushes', async () => {
      const page = await vera.b.get('/user');
      expect((page.body.devices as { id: string }[]).map((d) => d.id)).toEqual([vera.device.id]);
      const login = new Browser(t.url);
      const r = await login.post('/session', { email: vera.u.email, password: vera.u.password });
      expect(r.body.state).toBe('approve');
      const onVera = await pendingFor(vera.device, 1);
      expect(onVera.length).toBeGreaterThan(0);
      expect(await mallory.device.pending()).toEqual([]);
    });

    it('(step 4) when Mallory has Vera\'s password then neither her device nor her codes complete Vera\'s login', async () => {
      const login = new Browser(t.url);
      const r = await login.post('/session', { email: vera.u.email, password: vera.u.password });
      expect(r.body.state).toBe('approve');
      const [req] = (await pendingFor(vera.device, 1)).slice(-1);
      // Mallory's device answering Vera's request is refused.
      const forged = await mallory.device.answer(req!, 'approve', String(r.body.number));
      expect(forged.status).toBeGreaterThanOrEqual(400);
      expect(forged.status).toBeLessThan(500);
      expect((await login.post('/session/complete', {})).status).toBe(409);
      // A code from Mallory's authenticator is wrong for Vera.
      const code = await login.post('/session/verify', { code: totpAt(mallory.device.totpSecret, Date.now()) });
      expect(code.status).toBe(400);
      expect(code.body.code).toBe('CODE_INVALID');
      expect((await login.get('/user')).status).toBe(401);
    });

    it('(step 5) when Mallory types ten wrong codes on her own account then Vera is not locked', async () => {
      for (let i = 0; i < 3; i++) {
        const login = new Browser(t.url);
        const r = await login.post('/session', { email: mallory.u.email, password: mallory.u.password });
        expect(r.status).toBe(200);
        const right = totpAt(mallory.device.totpSecret, Date.now());
        for (let k = 0; k < 4; k++) await login.post('/session/verify', { code: otherCode(right) });
      }
      const login = new Browser(t.url);
      expect((await login.post('/session', { email: vera.u.email, password: vera.u.password })).status).toBe(200);
      const ok = await login.post('/session/verify', { code: totpAt(vera.device.totpSecret, Date.now() + 30_000) });
      expect(ok.status).toBe(200);
      expect(ok.body.state).toBe('logged_in');
    });

    it('when the service hands out an id that another account already holds then the web app refuses to bind it', async () => {
      // A service with Authy's old rule (the same phone gives the same user, whatever the email):
      // make Wendy's service user answer for the next signup's email.
      const db = t.system.db;
      const wendy = newUser({ fullName: 'Wendy' });
      await signUp(new Browser(t.url), wendy);
      const wendyAuthy = (await authyIdOf(t, wendy.email))!;
      const m = newUser({ phone: wendy.phone });
      await db.updateTable('verify_users').set({ email: m.email }).where('id', '=', wendyAuthy).execute();
      const b = new Browser(t.url);
      const r = await signUp(b, m, { expectStatus: 409 });
      expect(r.body.code).toBe('FACTOR_CONFLICT');
      expect((await b.get('/user')).status).toBe(401);
      expect(await db.selectFrom('app_users').select('id').where('email', '=', m.email).executeTakeFirst()).toBeUndefined();
      expect(await authyIdOf(t, wendy.email)).toBe(wendyAuthy);
    });
  });
});
