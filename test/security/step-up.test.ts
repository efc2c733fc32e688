// Threat: someone holding only a logged-in session (a stolen cookie, a browser left open) changes
// the account's factors: adds their own authenticator, takes the TOTP secret, removes the owner's
// device, or prints recovery codes. Every factor change needs the password and a second factor
// proved in the last 5 minutes, bound to that very session.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addTotpApp, Browser, TestDevice, latestSmsCode, newUser, signUp } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { appUserId, otherCode, pendingFor, totpAt } from './helpers.js';

/** Make every session of the account look as if its last proof was 6 minutes ago. */
async function ageProof(t: TestSystem, email: string): Promise<void> {
  const id = await appUserId(t, email);
  await t.system.db
    .updateTable('app_sessions')
    .set({ reauth_at: Date.now() - 6 * 60 * 1000 })
    .where('user_id', '=', id)
    .execute();
}

/** Sign up (a fresh proof), enrol an authenticator, and leave the browser logged in with an old proof. */
async function loggedInWithDevice(t: TestSystem) {
  const u = newUser();
  const b = new Browser(t.url);
  await signUp(b, u);
  const act = await b.post('/user/authenticators', {});
  expect(act.status).toBe(201);
  const device = await TestDevice.activate(t.url, (act.body.activation as { link: string }).link);
  await ageProof(t, u.email);
  return { u, b, device };
}

const factorChanges: [string, string, (b: Browser, deviceId: string) => Promise<{ status: number; body: Record<string, unknown> }>][] = [
  ['add an authenticator', 'POST /user/authenticators', (b) => b.post('/user/authenticators', {})],
  ['remove an authenticator', 'DELETE /user/authenticators/:id', (b, id) => b.del(`/user/authenticators/${id}`)],
  ['create a third-party TOTP secret', 'POST /user/totp-app', (b) => b.post('/user/totp-app', {})],
  ['remove a third-party TOTP app', 'DELETE /user/totp-app/:id', (b) => b.del('/user/totp-app/legacy')],
  ['regenerate recovery codes', 'POST /user/recovery-codes', (b) => b.post('/user/recovery-codes', {})],
  ['start registering a passkey', 'POST /user/passkeys/options', (b) => b.post('/user/passkeys/options', {})],
  ['register a passkey', 'POST /user/passkeys', (b) => b.post('/user/passkeys', { response: {} })],
  ['remove a passkey', 'DELETE /user/passkeys/:id', (b) => b.del('/user/passkeys/pk_AAAAAAAAAAAAAAAA')],
];

forEachDatabase((kind) => {
  describe(`step-up before any factor change on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(async () => {
      await t?.stop();
    });

    it.each(factorChanges)('when a session whose proof is older than 5 minutes tries to %s (%s) then 403 REAUTH_REQUIRED and nothing changes', async (_what, _route, call) => {
      const { b, device } = await loggedInWithDevice(t);
      const before = await b.get('/user');
      const r = await call(b, device.id);
      expect(r.status).toBe(403);
      expect(r.body.code).toBe('REAUTH_REQUIRED');
      const after = await b.get('/user');
      expect(after.body.devices).toEqual(before.body.devices);
      expect(after.body.totp_apps).toEqual(before.body.totp_apps);
      expect(after.body.recovery_codes).toEqual(before.body.recovery_codes);
      expect(after.body.reauth_until).toBeNull();
    });

    it('when the account was just created then signup counts as a fresh proof', async () => {
      const b = new Browser(t.url);
      await signUp(b, newUser());
      expect((await b.get('/session/reauth')).body.fresh).toBe(true);
      expect((await b.post('/user/recovery-codes', {})).status).toBe(201);
    });

    it('when the step-up is approved on the device with the right number then the change goes through, and only for 5 minutes', async () => {
      const { u, b, device } = await loggedInWithDevice(t);
      const start = await b.post('/session/reauth', { password: u.password });
      expect(start.status).toBe(200);
      expect(start.body).toMatchObject({ state: 'approve', purpose: 'reauth' });
      const [req] = await pendingFor(device, 1);
      expect(req!.message).toContain('Confirm');
      expect((await device.answer(req!, 'approve', String(start.body.number))).status).toBe(200);
      await expectStatus(b, 'approved');
      const done = await b.post('/session/complete', {});
      expect(done.status).toBe(200);
      expect(done.body.state).toBe('reauthenticated');
      expect(Number(done.body.reauth_until)).toBeGreaterThan(Date.now() + 4 * 60 * 1000);
      expect((await b.post('/user/recovery-codes', {})).status).toBe(201);
      // Still the same session: logged in, not rotated into a half session.
      expect((await b.get('/user')).status).toBe(200);
      await ageProof(t, u.email);
      expect((await b.post('/user/recovery-codes', {})).status).toBe(403);
    });

    it('when the device denies the step-up then the change stays refused', async () => {
      const { u, b, device } = await loggedInWithDevice(t);
      const start = await b.post('/session/reauth', { password: u.password });
      const [req] = await pendingFor(device, 1);
      expect((await device.answer(req!, 'deny', null)).status).toBe(200);
      await expectStatus(b, 'denied');
      expect((await b.post('/session/complete', {})).status).toBe(409);
      expect(start.body.state).toBe('approve');
      expect((await b.post('/user/authenticators', {})).status).toBe(403);
    });

    it('when the step-up is done with a code from the authenticator then the change goes through', async () => {
      const { u, b, device } = await loggedInWithDevice(t);
      expect((await b.post('/session/reauth', { password: u.password })).status).toBe(200);
      const r = await b.post('/session/verify', { code: totpAt(device.totpSecret, Date.now()) });
      expect(r.status).toBe(200);
      expect(r.body.state).toBe('reauthenticated');
      expect((await b.post('/user/authenticators', {})).status).toBe(201);
    });

    it('when the account has no authenticator then the step-up texts a code to the phone', async () => {
      const u = newUser();
      const b = new Browser(t.url);
      await signUp(b, u);
      await ageProof(t, u.email);
      const start = await b.post('/session/reauth', { password: u.password });
      expect(start.body).toMatchObject({ state: 'code', via: 'sms', purpose: 'reauth' });
      const { code } = await latestSmsCode(t.url, `+1${u.phone}`);
      expect((await b.post('/session/verify', { code })).body.state).toBe('reauthenticated');
      expect((await b.post('/user/totp-app', {})).status).toBe(201);
    });

    it('when the step-up is done with a recovery code then the change goes through and the code is spent', async () => {
      const u = newUser();
      const b = new Browser(t.url);
      await signUp(b, u);
      const codes = (await b.post('/user/recovery-codes', {})).body.codes as string[];
      await ageProof(t, u.email);
      expect((await b.post('/session/reauth', { password: u.password })).status).toBe(200);
      const r = await b.post('/session/recover', { code: codes[0] });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ state: 'reauthenticated', recovery_codes_remaining: 9 });
      expect((await b.post('/user/authenticators', {})).status).toBe(201);
    });

    it('when the password is wrong then 401 and no second factor is asked for', async () => {
      const { b, device } = await loggedInWithDevice(t);
      const r = await b.post('/session/reauth', { password: 'not the password at all' });
      expect(r.status).toBe(401);
      expect(r.body.code).toBe('INVALID_CREDENTIALS');
      await new Promise((ok) => setTimeout(ok, 200));
      expect(await device.pending()).toHaveLength(0);
      expect((await b.post('/session/verify', { code: totpAt(device.totpSecret, Date.now()) })).status).toBe(401);
    });

    /** Threat: guessing the password through the step-up instead of the login page. */
    it('when wrong step-up passwords come in a burst then they are capped per account (429)', async () => {
      const { b } = await loggedInWithDevice(t);
      const answers = await Promise.all(Array.from({ length: 15 }, () => b.post('/session/reauth', { password: 'not the password at all' })));
      const statuses = answers.map((a) => a.status);
      expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(10);
      expect(statuses).toContain(429);
    });

    /** Threat: a proof made in one browser unlocking changes in another session of the account. */
    it('when one session steps up then another session of the same account is still refused', async () => {
      const { u, b, device } = await loggedInWithDevice(t);
      const other = new Browser(t.url);
      const login = await other.post('/session', { email: u.email, password: u.password });
      const [req] = await pendingFor(device, 1);
      await device.answer(req!, 'approve', String(login.body.number));
      await expectStatus(other, 'approved');
      expect((await other.post('/session/complete', {})).body.state).toBe('logged_in');
      await ageProof(t, u.email);
      expect((await b.post('/session/reauth', { password: u.password })).status).toBe(200);
      expect((await b.post('/session/verify', { code: totpAt(device.totpSecret, Date.now() + 30_000) })).body.state).toBe('reauthenticated');
      expect((await b.post('/user/recovery-codes', {})).status).toBe(201);
      expect((await other.post('/user/recovery-codes', {})).status).toBe(403);
    });

    /** Threat: guessing second-factor codes in a step-up with a stolen session. */
    it('when five wrong codes are typed in a step-up then the session is ended', async () => {
      const { u, b, device } = await loggedInWithDevice(t);
      expect((await b.post('/session/reauth', { password: u.password })).status).toBe(200);
      const right = totpAt(device.totpSecret, Date.now());
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await b.post('/session/verify', { code: otherCode(right) })).status);
      expect(statuses).toEqual([400, 400, 400, 400, 403]);
      expect((await b.get('/user')).status).toBe(401);
    });

    /** Threat: one approval counted twice (two proofs, or a proof and a login) when requests race. */
    it('when the approved step-up is completed 10 times at once then exactly one succeeds', async () => {
      const { u, b, device } = await loggedInWithDevice(t);
      const start = await b.post('/session/reauth', { password: u.password });
      const [req] = await pendingFor(device, 1);
      await device.answer(req!, 'approve', String(start.body.number));
      await expectStatus(b, 'approved');
      const answers = await Promise.all(Array.from({ length: 10 }, () => b.post('/session/complete', {})));
      expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
      expect(answers.filter((a) => a.status >= 500)).toHaveLength(0);
      expect((await b.get('/user')).status).toBe(200);
    });

    /**
     * Threat: someone holding a freshly logged-in session for a moment creates an app secret and
     * never confirms it, to keep a hidden way in (and to remove the owner's app at its first use).
     */
    it('when an app secret is created but not confirmed then its codes do not log in and the confirmed app stays', async () => {
      const u = newUser();
      const b = new Browser(t.url);
      await signUp(b, u);
      const owners = await addTotpApp(b);
      const planted = await b.post('/user/totp-app', {});
      const plantedSecret = new URL(String(planted.body.uri)).searchParams.get('secret')!;
      expect((await b.get('/user')).body.totp_apps).toHaveLength(1);
      await b.del('/session');
      const login = new Browser(t.url);
      expect((await login.post('/session', { email: u.email, password: u.password })).status).toBe(200);
      const r = await login.post('/session/verify', { code: totpAt(plantedSecret, Date.now()) });
      expect(r.status).toBe(400);
      expect((await login.post('/session/verify', { code: totpAt(owners, Date.now()) })).body.state).toBe('logged_in');
      const apps = (await login.get('/user')).body.totp_apps as { id: string }[];
      expect(apps).toHaveLength(1);
      expect(apps[0]!.id).not.toBe(planted.body.id);
    });

    /** Threat: a half-logged-in session (password only) reaching the step-up or a factor change. */
    it('when only the password was given (half session) then step-up and factor changes answer 401', async () => {
      const { u, b } = await loggedInWithDevice(t);
      await b.del('/session');
      const half = new Browser(t.url);
      expect((await half.post('/session', { email: u.email, password: u.password })).status).toBe(200);
      expect((await half.post('/session/reauth', { password: u.password })).status).toBe(401);
      expect((await half.post('/user/authenticators', {})).status).toBe(401);
    });
  });
});

async function expectStatus(b: Browser, status: string): Promise<void> {
  const end = Date.now() + 5000;
  for (;;) {
    const r = await b.get('/authy/status');
    if (r.body.status === status) return;
    if (Date.now() > end) throw new Error(`status stayed ${String(r.body.status)}`);
    await new Promise((ok) => setTimeout(ok, 50));
  }
}
