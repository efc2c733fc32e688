// The user's page (src/app/routes/account.ts): GET /user, authenticators (add, revoke), third-party
// TOTP apps (create, confirm, remove) and recovery codes; factor changes need a recent step-up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normaliseRecoveryCode } from '../../../src/app/recovery-codes.js';
import { forEachDatabase } from '../../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../../helpers/system.js';
import { addTotpApp, Browser, newUser, TestDevice, signUp } from '../helpers.js';
import { ageProof, expectError, recoveryFixtures, totpNow } from './fixtures.js';

const DISPLAY = /^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$/;

forEachDatabase((kind) => {
  describe(`user page: authenticators and TOTP apps on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(async () => {
      await t?.stop();
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
    it('when a user page revokes the device then it disappears from the list', async () => {
      const u = newUser();
      const b = new Browser(t.url);
      await signUp(b, u);
      const act = await b.post('/user/authenticators', { name: 'Phone' });
      const device = await TestDevice.activate(t.url, (act.body.activation as { link: string }).link);
      expect((await b.del(`/user/authenticators/${device.id}`)).status).toBe(200);
      expect((await b.get('/user')).body.devices).toEqual([]);
      expect((await b.del(`/user/authenticators/00000000-0000-4000-8000-000000000000`)).status).toBe(404);
    });
  });

  describe(`user page: recovery codes (POST /user/recovery-codes) on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({
        db: kind,
        env: { LOGIN_PER_ACCOUNT_LIMIT: '40', LOGIN_PER_IP_LIMIT: '1000', RECOVERY_PER_USER_LIMIT: '25', LOG_LEVEL: 'trace' },
      });
    });
    afterAll(async () => {
      await t?.stop();
    });

    const { account, generate, halfLogin, rows } = recoveryFixtures(() => t);

    it('when a logged-in user generates codes then 201 with 10 codes shown once (no-store), and GET /user reports only the count', async () => {
      const { b } = await account();
      const before = await b.get('/user');
      expect(before.body.recovery_codes).toEqual({ remaining: 0, generated_at: null });
      const r = await b.post('/user/recovery-codes', {});
      expect(r.status).toBe(201);
      expect(r.headers.get('cache-control')).toBe('no-store');
      const codes = r.body.codes as string[];
      expect(codes).toHaveLength(10);
      expect(new Set(codes).size).toBe(10);
      for (const c of codes) expect(c).toMatch(DISPLAY);
      const me = await b.get('/user');
      expect(me.headers.get('cache-control')).toBe('no-store');
      const rc = me.body.recovery_codes as { remaining: number; generated_at: number };
      expect(rc.remaining).toBe(10);
      expect(rc.generated_at).toBeGreaterThan(Date.now() - 60_000);
      const text = JSON.stringify(me.body).toUpperCase();
      for (const c of codes) expect(text).not.toContain(normaliseRecoveryCode(c));
      const events = me.body.events as { type: string; outcome: string }[];
      expect(events.some((e) => e.type === 'recovery_codes_generated' && e.outcome === 'success')).toBe(true);
    });

    it('when codes are regenerated then the old set stops working and only the new set exists, even for concurrent regenerations', async () => {
      const { u, b, id } = await account();
      const old = await generate(b);
      const fresh = await generate(b);
      expect(fresh.some((c) => old.includes(c))).toBe(false);
      expect(await rows(id)).toHaveLength(10);
      const l1 = await halfLogin(u);
      const r1 = await l1.post('/session/recover', { code: old[0] });
      expect(r1.status).toBe(400);
      const r2 = await l1.post('/session/recover', { code: fresh[0] });
      expect(r2.status).toBe(200);

      const sets = await Promise.all(Array.from({ length: 5 }, () => l1.post('/user/recovery-codes', {})));
      for (const s of sets) expect(s.status).toBe(201);
      const stored = (await rows(id)).map((r) => r.code_hash).sort();
      expect(stored).toHaveLength(10);
      const hasher = t.system.platform.codeHasher;
      const matching = sets.filter((s) => {
        const hashes = (s.body.codes as string[]).map((c) => hasher.hash(`recovery:${id}`, normaliseRecoveryCode(c)!)).sort();
        return JSON.stringify(hashes) === JSON.stringify(stored);
      });
      expect(matching).toHaveLength(1);
    });
  });

  describe(`user page refusals: each route answers bad input with 4xx {code, message} on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(async () => {
      await t?.stop();
    });

    const routes: [string, string, unknown][] = [
      ['GET', '/user', undefined],
      ['POST', '/user/authenticators', {}],
      ['DELETE', '/user/authenticators/abc', {}],
      ['POST', '/user/totp-app', {}],
      ['DELETE', '/user/totp-app/legacy', {}],
      ['POST', '/user/totp-app/confirm', { code: '123456' }],
      ['POST', '/user/recovery-codes', {}],
    ];

    it.each(routes)('when %s %s comes with no session, a forged cookie or a half session then 401 UNAUTHENTICATED', async (method, path, body) => {
      const none = new Browser(t.url);
      expectError(await none.request(method, path, body), 401, 'UNAUTHENTICATED', { message: 'Please log in' });
      none.cookie = `twofold=${'A'.repeat(43)}`;
      expectError(await none.request(method, path, body), 401, 'UNAUTHENTICATED', { message: 'Please log in' });
      const u = newUser();
      const owner = new Browser(t.url);
      await signUp(owner, u);
      const half = new Browser(t.url);
      expect((await half.post('/session', { email: u.email, password: u.password })).body.state).toBe('code');
      expectError(await half.request(method, path, body), 401, 'UNAUTHENTICATED', { message: 'Please log in' });
    });

    it.each(routes.filter(([, path]) => path !== '/user' && path !== '/user/totp-app/confirm'))(
      'when %s %s comes from a session whose proof is older than 5 minutes then 403 REAUTH_REQUIRED pointing at /session/reauth',
      async (method, path, body) => {
        const u = newUser();
        const b = new Browser(t.url);
        await signUp(b, u);
        await ageProof(t, u.email);
        expectError(await b.request(method, path, body), 403, 'REAUTH_REQUIRED', {
          message: 'Please confirm it is you: enter your password and approve or type a code',
          reauth: '/session/reauth',
        });
        const me = await b.get('/user');
        expect(me.body.devices).toEqual([]);
        expect(me.body.totp_apps).toEqual([]);
        expect(me.body.recovery_codes).toEqual({ remaining: 0, generated_at: null });
      },
    );

    it('when a session whose proof is older than 5 minutes confirms a TOTP app then no step-up is asked (the new secret needed one): a wrong code is 400 CODE_INVALID', async () => {
      const u = newUser();
      const b = new Browser(t.url);
      await signUp(b, u);
      await ageProof(t, u.email);
      expectError(await b.post('/user/totp-app/confirm', { code: '000000' }), 400, 'CODE_INVALID');
    });

    it('when GET /user is asked by a full session then it answers the profile, factors, recovery-code count, step-up window and events (no-store)', async () => {
      const u = newUser();
      const b = new Browser(t.url);
      await signUp(b, u);
      const me = await b.get('/user');
      expect(me.status).toBe(200);
      expect(me.headers.get('cache-control')).toBe('no-store');
      // This system is reached by IP (127.0.0.1), where browsers allow no passkey: the page says why.
      expect(Object.keys(me.body).sort()).toEqual(['devices', 'events', 'passkeys', 'passkeys_available', 'passkeys_unavailable_reason', 'reauth_until', 'recovery_codes', 'totp_apps', 'user']);
      expect(me.body.passkeys).toEqual([]);
      expect(me.body.user).toEqual({ id: expect.any(Number), fullName: u.fullName, email: u.email, countryCode: '1', region: 'US', phone: u.phone, totpAppConfirmed: false });
      expect(me.body.devices).toEqual([]);
      expect(me.body.totp_apps).toEqual([]);
      expect(me.body.reauth_until).toBeGreaterThan(Date.now() + 4 * 60_000);
    });

    it('when POST /user/authenticators has an invalid name or body then 400 VALIDATION or MALFORMED_BODY and no activation is made; a valid name makes one', async () => {
      const b = new Browser(t.url);
      await signUp(b, newUser());
      for (const body of [{ name: '' }, { name: '   ' }, { name: 42 }, { name: 'x'.repeat(65) }, { name: ['Phone'] }]) {
        expectError(await b.post('/user/authenticators', body), 400, 'VALIDATION', { fields: { name: expect.any(String) } });
      }
      expectError(await b.post('/user/authenticators', [1]), 400, 'VALIDATION', { fields: expect.any(Object) });
      expectError(await b.post('/user/authenticators', '{"name":'), 400, 'MALFORMED_BODY');
      const ok = await b.post('/user/authenticators', { name: 'Phone' });
      expect(ok.status).toBe(201);
      expect(ok.body).toEqual({
        activation: { link: expect.stringContaining('/authenticator/#activate='), qr_code: expect.stringMatching(/^data:image\/png;base64,/), expires_at: expect.any(Number) },
      });
    });

    it('when DELETE /user/authenticators/:id has a malformed id then 400 VALIDATION, an unknown one 404 NOT_FOUND', async () => {
      const b = new Browser(t.url);
      await signUp(b, newUser());
      for (const id of [encodeURIComponent('../x'), 'a.b', 'a%20b', 'x'.repeat(65)]) {
        expectError(await b.del(`/user/authenticators/${id}`), 400, 'VALIDATION', { message: 'id: is not a device id' });
      }
      expectError(await b.del('/user/authenticators/00000000-0000-4000-8000-000000000000'), 404, 'NOT_FOUND', { message: 'No such authenticator' });
    });

    it('when DELETE /user/totp-app/:id has a malformed id then 400 VALIDATION, an unknown one 404 NOT_FOUND; a confirmed app is removed once', async () => {
      const b = new Browser(t.url);
      await signUp(b, newUser());
      for (const id of [encodeURIComponent('../x'), 'a.b', 'x'.repeat(65)]) {
        expectError(await b.del(`/user/totp-app/${id}`), 400, 'VALIDATION', { message: 'id: is not an authenticator app id' });
      }
      expectError(await b.del('/user/totp-app/legacy'), 404, 'NOT_FOUND', { message: 'No such authenticator app' });
      await addTotpApp(b);
      const apps = (await b.get('/user')).body.totp_apps as { id: string }[];
      expect(apps).toHaveLength(1);
      const removed = await b.del(`/user/totp-app/${apps[0]!.id}`);
      expect(removed.status).toBe(200);
      expect(removed.body).toEqual({ removed: apps[0]!.id });
      const me = await b.get('/user');
      expect(me.body.totp_apps).toEqual([]);
      expect((me.body.user as { totpAppConfirmed: boolean }).totpAppConfirmed).toBe(false);
      expectError(await b.del(`/user/totp-app/${apps[0]!.id}`), 404, 'NOT_FOUND', { message: 'No such authenticator app' });
    });

    it('when POST /user/totp-app/confirm has an invalid body then 400 VALIDATION (no try spent), a wrong code 400 CODE_INVALID, and past OTP_MAX_ATTEMPTS tries 429 RATE_LIMITED', async () => {
      const b = new Browser(t.url);
      await signUp(b, newUser());
      expect((await b.post('/user/totp-app', {})).status).toBe(201);
      for (const body of [{}, { code: 'abcdef' }, { code: '12345' }, { code: 123456 }, { code: null }]) {
        expectError(await b.post('/user/totp-app/confirm', body), 400, 'VALIDATION', { fields: { code: expect.any(String) } });
      }
      expectError(await b.post('/user/totp-app/confirm', ['123456']), 400, 'VALIDATION', { fields: expect.any(Object) });
      for (let i = 0; i < 5; i++) {
        expectError(await b.post('/user/totp-app/confirm', { code: '000000' }), 400, 'CODE_INVALID', { message: 'That code is not right. Check the app and try again.' });
      }
      const limited = await b.post('/user/totp-app/confirm', { code: '000000' });
      expectError(limited, 429, 'RATE_LIMITED', { message: 'Too many attempts; please wait before trying again', retry_after: expect.any(Number) });
      expect(limited.body.retry_after).toBeGreaterThan(0);
      expect(limited.headers.get('retry-after')).toBe(String(limited.body.retry_after));
    });

    it('when a new TOTP app is confirmed with a code of another authenticator of the account then 400 CODE_INVALID and the app stays unconfirmed', async () => {
      const b = new Browser(t.url);
      await signUp(b, newUser());
      const act = await b.post('/user/authenticators', {});
      const device = await TestDevice.activate(t.url, (act.body.activation as { link: string }).link);
      expect((await b.post('/user/totp-app', {})).status).toBe(201);
      expectError(await b.post('/user/totp-app/confirm', { code: totpNow(device.totpSecret) }), 400, 'CODE_INVALID', {
        message: 'That code is not from the new app. Scan the QR code and type the code the app shows.',
      });
      const me = await b.get('/user');
      expect(me.body.totp_apps).toEqual([]);
      expect((me.body.user as { totpAppConfirmed: boolean }).totpAppConfirmed).toBe(false);
    });

    it('when POST /user/recovery-codes has a body that is not a JSON object then 400 VALIDATION or MALFORMED_BODY and no codes are made', async () => {
      const b = new Browser(t.url);
      await signUp(b, newUser());
      expectError(await b.post('/user/recovery-codes', ['x']), 400, 'VALIDATION', { fields: expect.any(Object) });
      expectError(await b.post('/user/recovery-codes', 'not json'), 400, 'MALFORMED_BODY');
      expect((await b.get('/user')).body.recovery_codes).toEqual({ remaining: 0, generated_at: null });
    });

    it.each([
      ['DELETE', '/user/authenticators/abc'],
      ['POST', '/user/totp-app'],
      ['DELETE', '/user/totp-app/legacy'],
    ])('when %s %s, which takes no parameters, gets a body that is not a JSON object then 400 VALIDATION and nothing is done', async (method, path) => {
      const b = new Browser(t.url);
      await signUp(b, newUser());
      expectError(await b.request(method, path, [1]), 400, 'VALIDATION', { fields: expect.any(Object) });
      expectError(await b.request(method, path, 'not json'), 400, 'MALFORMED_BODY');
      const user = (await b.get('/user')).body as { totp_apps?: unknown[]; events?: { type: string }[] };
      expect(user.events?.map((e) => e.type) ?? []).not.toContain('device_revoked');
    });
  });
});
