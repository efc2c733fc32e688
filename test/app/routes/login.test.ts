// Login (src/app/routes/login.ts): the password step (POST /session), the second factor's routes
// (verify, recover, resend, complete), the step-up (POST/GET /session/reauth) and logout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normaliseRecoveryCode } from '../../../src/app/recovery-codes.js';
import { ManualClock } from '../../../src/platform/clock.js';
import { forEachDatabase } from '../../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../../helpers/system.js';
import { Browser, latestSmsCode, newUser, signUp } from '../helpers.js';
import { ageProof, expectError, otherCode, recoveryFixtures, smsHalfLogin } from './fixtures.js';

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
  });

  describe(`SMS cool-down (POST /session/resend) on ${kind}`, () => {
    const clock = new ManualClock(Date.now());
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, clock });
    });
    afterAll(async () => {
      await t?.stop();
    });

    const halfLoggedIn = () => smsHalfLogin(t);

    it('when the 30 s cool-down has passed then resend sends a new SMS whose code logs in', async () => {
      const { b, to } = await halfLoggedIn();
      const first = await latestSmsCode(t.url, to);
      clock.advance(10_000);
      const early = await b.post('/session/resend', {});
      expect(early.status).toBe(429);
      expect(early.body.retry_after).toBe(20);
      expect(early.headers.get('retry-after')).toBe('20');
      clock.advance(20_000);
      const again = await b.post('/session/resend', {});
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ sent: true, retry_after: 30 });
      const second = await latestSmsCode(t.url, to);
      expect(second.count).toBe(first.count + 1);
      expect((await b.post('/session/verify', { code: second.code })).status).toBe(200);
    });
  });

  describe(`recovery codes at login (POST /session/recover) on ${kind}`, () => {
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

    it('when a recovery code is used at login then the user is logged in with a new token, once; the same code again is refused', async () => {
      const { u, b, id } = await account();
      const codes = await generate(b);
      expect((await b.del('/session')).status).toBe(200);

      const l1 = await halfLogin(u);
      const half = l1.cookie;
      // Typed loosely: upper case, spaces instead of the dash.
      const r = await l1.post('/session/recover', { code: ` ${codes[3]!.toUpperCase().replace('-', ' ')} ` });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ state: 'logged_in', recovery_codes_remaining: 9 });
      expect(l1.cookie).toBeDefined();
      expect(l1.cookie).not.toBe(half);
      const me = await l1.get('/user');
      expect(me.status).toBe(200);
      expect((me.body.recovery_codes as { remaining: number }).remaining).toBe(9);
      const events = me.body.events as { type: string; outcome: string; detail: Record<string, unknown> }[];
      expect(events.some((e) => e.type === 'second_factor' && e.outcome === 'success' && e.detail.kind === 'recovery')).toBe(true);
      expect((await rows(id)).filter((x) => x.used_at !== null)).toHaveLength(1);

      const l2 = await halfLogin(u);
      const again = await l2.post('/session/recover', { code: codes[3] });
      expect(again.status).toBe(400);
      expect(again.body).toMatchObject({ code: 'CODE_INVALID', attempts_left: 4 });
      expect((await l2.get('/user')).status).toBe(401);
      // Another code of the set still works.
      const ok = await l2.post('/session/recover', { code: codes[4] });
      expect(ok.status).toBe(200);
      expect(ok.body.recovery_codes_remaining).toBe(8);
      // Nothing of a code reaches the logs (trace level here).
      const logs = t.logs.join('\n').toUpperCase();
      for (const c of codes) {
        expect(logs).not.toContain(normaliseRecoveryCode(c));
        expect(logs).not.toContain(c.toUpperCase());
      }
    });

    it('when 20 logins redeem the same code at the same moment then exactly one gets in', async () => {
      const { u, b } = await account();
      const codes = await generate(b);
      const browsers = await Promise.all(Array.from({ length: 20 }, () => halfLogin(u)));
      const results = await Promise.all(browsers.map((x) => x.post('/session/recover', { code: codes[0] })));
      const statuses = results.map((r) => r.status);
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      expect(statuses.filter((s) => s === 400)).toHaveLength(19);
      expect(((await b.get('/user')).body.recovery_codes as { remaining: number }).remaining).toBe(9);
    });

    it('when wrong recovery codes are tried then they spend the same attempt budget as wrong OTPs and the attempt dies after OTP_MAX_ATTEMPTS', async () => {
      const { u, b } = await account();
      const codes = await generate(b);
      const l = await halfLogin(u);
      const otp = await l.post('/session/verify', { code: '000000' });
      // (An SMS code of 000000 is possible but vanishingly rare; then the login simply succeeds.)
      expect(otp.status).toBe(400);
      expect(otp.body.attempts_left).toBe(4);
      for (const left of [3, 2, 1]) {
        const r = await l.post('/session/recover', { code: 'zzzzz-zzzzz' });
        expect(r.status).toBe(400);
        expect(r.body).toMatchObject({ code: 'CODE_INVALID', attempts_left: left });
      }
      // Malformed input is a 400 VALIDATION and does not spend a try.
      const bad = await l.post('/session/recover', { code: 'not a code' });
      expect(bad.status).toBe(400);
      expect(bad.body.code).toBe('VALIDATION');
      const last = await l.post('/session/recover', { code: 'yyyyy-yyyyy' });
      expect(last.status).toBe(403);
      expect(last.body.code).toBe('TOO_MANY_ATTEMPTS');
      // The attempt is dead: even a right code is refused and stays unused.
      const late = await l.post('/session/recover', { code: codes[0] });
      expect(late.status).toBe(401);
      expect(((await b.get('/user')).body.recovery_codes as { remaining: number }).remaining).toBe(10);
      const events = (await b.get('/user')).body.events as { type: string; outcome: string; detail: Record<string, unknown> }[];
      expect(events.filter((e) => e.type === 'second_factor' && e.outcome === 'failure' && e.detail.kind === 'recovery')).toHaveLength(4);
    });

    it('when a burst of wrong recovery codes hits one attempt then no more than OTP_MAX_ATTEMPTS are checked', async () => {
      const { u } = await account();
      const l = await halfLogin(u);
      const burst = await Promise.all(Array.from({ length: 12 }, () => l.post('/session/recover', { code: 'zzzzz-zzzzz' })));
      expect(burst.filter((r) => r.status === 400).length).toBeLessThanOrEqual(4);
      expect(burst.some((r) => r.status === 403 && r.body.code === 'TOO_MANY_ATTEMPTS')).toBe(true);
      expect(burst.every((r) => [400, 401, 403].includes(r.status))).toBe(true);
    });

    it('when recovery codes are guessed across many logins then the per-user limit answers 429 with Retry-After', async () => {
      const { u } = await account();
      // RECOVERY_PER_USER_LIMIT is 25 here: five attempts of five tries, then the limit.
      for (let i = 0; i < 5; i++) {
        const l = await halfLogin(u);
        const r = await Promise.all(Array.from({ length: 5 }, () => l.post('/session/recover', { code: 'zzzzz-zzzzz' })));
        expect(r.every((x) => x.status === 400 || x.status === 403)).toBe(true);
      }
      const l = await halfLogin(u);
      const limited = await l.post('/session/recover', { code: 'zzzzz-zzzzz' });
      expect(limited.status).toBe(429);
      expect(limited.body.code).toBe('RATE_LIMITED');
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    });

    it('when the recovery body is huge, unicode or of the wrong type then 400 VALIDATION, and no try is spent', async () => {
      const { u, b } = await account();
      const codes = await generate(b);
      const l = await halfLogin(u);
      const bodies: unknown[] = [
        {},
        { code: 'z'.repeat(100_000) },
        { code: 'ｚｚｚｚｚ-ｚｚｚｚｚ' },
        { code: 'zzzzz-zzzz🙂' },
        { code: 'zzzzz\u0000zzzzz' },
        { code: 12345678901 },
        { code: ['zzzzz-zzzzz'] },
        { code: { $ne: null } },
        { code: null },
        { code: true },
        ['zzzzz-zzzzz'],
        '"zzzzz-zzzzz"',
        '{"code":',
      ];
      for (const body of bodies) {
        const r = await l.post('/session/recover', body);
        expect(r.status, JSON.stringify(body).slice(0, 60)).toBeGreaterThanOrEqual(400);
        expect(r.status, JSON.stringify(body).slice(0, 60)).toBeLessThan(500);
        expect(r.status).not.toBe(401);
        expect(typeof r.body.code).toBe('string');
        expect(typeof r.body.message).toBe('string');
      }
      expect((await l.post('/session/recover', { code: 'z'.repeat(100) })).body.code).toBe('VALIDATION');
      expect((await b.post('/user/recovery-codes', ['x'])).status).toBe(400);
      expect((await b.post('/user/recovery-codes', 'not json')).status).toBe(400);
      // None of that spent a try: the right code still works on this attempt.
      const ok = await l.post('/session/recover', { code: codes[0] });
      expect(ok.status).toBe(200);
      expect(ok.body.recovery_codes_remaining).toBe(9);
    });
  });

  describe(`login routes: refusals, step-up and logout on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, env: { LOGIN_PER_ACCOUNT_LIMIT: '3' } });
    });
    afterAll(async () => {
      await t?.stop();
    });

    it.each([
      ['email', 'not an address', { email: 'not-an-email', password: 'whatever1' }],
      ['email', 'a number', { email: 42, password: 'whatever1' }],
      ['email', 'missing', { password: 'whatever1' }],
      ['password', 'missing', { email: 'a@b.c' }],
      ['password', 'empty', { email: 'a@b.c', password: '' }],
      ['password', 'of 10,000 characters', { email: 'a@b.c', password: 'y'.repeat(10_000) }],
      ['password', 'an array', { email: 'a@b.c', password: ['whatever1'] }],
    ])('when POST /session has an invalid %s (%s) then 400 VALIDATION names the field and no session starts', async (field, _what, body) => {
      const b = new Browser(t.url);
      expectError(await b.post('/session', body), 400, 'VALIDATION', { fields: expect.objectContaining({ [field]: expect.any(String) }) });
      expect(b.cookie).toBeUndefined();
    });

    it('when POST /session is not JSON, not an object or comes cross-site then 400 MALFORMED_BODY, 400 VALIDATION or 403 CSRF', async () => {
      const b = new Browser(t.url);
      expectError(await b.post('/session', '{"email":'), 400, 'MALFORMED_BODY', { message: 'Request body is not valid JSON' });
      expectError(await b.post('/session', '[]'), 400, 'VALIDATION', { fields: expect.any(Object) });
      expectError(await b.post('/session', { email: 'a@b.c', password: 'whatever1' }, { origin: 'https://attacker.example' }), 403, 'CSRF', { message: 'Cross-origin request refused' });
      expectError(await b.request('POST', '/session', 'email=a@b.c&password=whatever1', { 'content-type': 'application/x-www-form-urlencoded' }), 403, 'CSRF', {
        message: 'State-changing requests must send Content-Type: application/json',
      });
      expect(b.cookie).toBeUndefined();
    });

    it('when the password is wrong or the email unknown then 401 INVALID_CREDENTIALS, exactly {code, message}, and no cookie', async () => {
      const { u } = await signedUp(t);
      for (const body of [{ email: u.email, password: 'not the password' }, { email: `nobody.${u.email}`, password: u.password }]) {
        const b = new Browser(t.url);
        expectError(await b.post('/session', body), 401, 'INVALID_CREDENTIALS', { message: 'Email or password is incorrect' });
        expect(b.cookie).toBeUndefined();
      }
    });

    it('when one address tries an account\'s password more than LOGIN_PER_ACCOUNT_LIMIT times then 429 RATE_LIMITED with Retry-After, even for the right password', async () => {
      const { u } = await signedUp(t);
      for (let i = 0; i < 3; i++) expectError(await new Browser(t.url).post('/session', { email: u.email, password: 'not the password' }), 401, 'INVALID_CREDENTIALS');
      const b = new Browser(t.url);
      const r = await b.post('/session', { email: u.email, password: u.password });
      expectError(r, 429, 'RATE_LIMITED', { message: 'Too many attempts; please wait before trying again', retry_after: expect.any(Number) });
      expect(r.body.retry_after).toBeGreaterThan(0);
      expect(r.headers.get('retry-after')).toBe(String(r.body.retry_after));
      expect(b.cookie).toBeUndefined();
    });

    it('when the second-factor routes are called without a login in progress then 401 UNAUTHENTICATED, also from a full session', async () => {
      const none = new Browser(t.url);
      const full = new Browser(t.url);
      await signUp(full, newUser());
      for (const b of [none, full]) {
        const answers = [
          await b.post('/session/verify', { code: '123456' }),
          await b.post('/session/recover', { code: 'zzzzz-zzzzz' }),
          await b.post('/session/resend', {}),
          await b.post('/session/complete', {}),
        ];
        for (const r of answers) expectError(r, 401, 'UNAUTHENTICATED', { message: 'No login in progress; please log in' });
      }
      expect((await full.get('/user')).status).toBe(200);
    });

    it('when POST /session/verify has an invalid code then 400 VALIDATION and no try is spent; a wrong code is 400 CODE_INVALID with attempts_left', async () => {
      const { u, to } = await signedUp(t);
      const b = new Browser(t.url);
      expect((await b.post('/session', { email: u.email, password: u.password })).body.state).toBe('code');
      for (const body of [{}, { code: 'abcdef' }, { code: '12345' }, { code: 123456 }, { code: null }, { code: '1'.repeat(40) }]) {
        expectError(await b.post('/session/verify', body), 400, 'VALIDATION', { fields: { code: expect.any(String) } });
      }
      expectError(await b.post('/session/verify', ['123456']), 400, 'VALIDATION', { fields: expect.any(Object) });
      const { code } = await latestSmsCode(t.url, to);
      expectError(await b.post('/session/verify', { code: otherCode(code) }), 400, 'CODE_INVALID', { message: 'That code is not right. Check it and try again.', attempts_left: 4 });
      const ok = await b.post('/session/verify', { code });
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ state: 'logged_in' });
    });

    it('when a login that asked for a code is completed as if approved then 409 NOT_APPROVED and the login goes on', async () => {
      const { u, to } = await signedUp(t);
      const b = new Browser(t.url);
      expect((await b.post('/session', { email: u.email, password: u.password })).body.state).toBe('code');
      expectError(await b.post('/session/complete', {}), 409, 'NOT_APPROVED', { message: 'This login has not been approved' });
      expectError(await b.get('/user'), 401, 'UNAUTHENTICATED');
      const { code } = await latestSmsCode(t.url, to);
      expect((await b.post('/session/verify', { code })).status).toBe(200);
    });

    it('when DELETE /session has no session then 401 UNAUTHENTICATED, cross-site then 403 CSRF; from a half session it logs out and clears the cookie', async () => {
      expectError(await new Browser(t.url).del('/session'), 401, 'UNAUTHENTICATED', { message: 'Please log in' });
      const { u } = await signedUp(t);
      const b = new Browser(t.url);
      expect((await b.post('/session', { email: u.email, password: u.password })).status).toBe(200);
      expectError(await b.request('DELETE', '/session', {}, { origin: 'https://attacker.example' }), 403, 'CSRF');
      const half = b.cookie;
      const out = await b.del('/session');
      expect(out.status).toBe(200);
      expect(out.body).toEqual({ state: 'logged_out' });
      expect(b.cookie).toBeUndefined();
      const old = new Browser(t.url);
      old.cookie = half;
      expectError(await old.post('/session/verify', { code: '123456' }), 401, 'UNAUTHENTICATED');
    });

    it('when /session/complete, /session/resend or DELETE /session, which take no parameters, get a body that is not a JSON object then 400 VALIDATION and the login goes on', async () => {
      const { u, to } = await signedUp(t);
      const b = new Browser(t.url);
      expect((await b.post('/session', { email: u.email, password: u.password })).body.state).toBe('code');
      const half = b.cookie;
      expectError(await b.post('/session/complete', [1]), 400, 'VALIDATION', { fields: expect.any(Object) });
      expectError(await b.post('/session/resend', [2]), 400, 'VALIDATION', { fields: expect.any(Object) });
      expectError(await b.request('DELETE', '/session', ['x']), 400, 'VALIDATION', { fields: expect.any(Object) });
      expect(b.cookie).toBe(half);
      const { code } = await latestSmsCode(t.url, to);
      expect((await b.post('/session/verify', { code })).status).toBe(200);
    });

    it('when POST /session/reauth has no full session, an invalid body or a wrong password then 401 UNAUTHENTICATED, 400 VALIDATION or 401 INVALID_CREDENTIALS, and the session stays logged in', async () => {
      expectError(await new Browser(t.url).post('/session/reauth', { password: 'whatever1' }), 401, 'UNAUTHENTICATED', { message: 'Please log in' });
      const { u } = await signedUp(t);
      const half = new Browser(t.url);
      expect((await half.post('/session', { email: u.email, password: u.password })).status).toBe(200);
      expectError(await half.post('/session/reauth', { password: u.password }), 401, 'UNAUTHENTICATED');
      const u2 = newUser();
      const b = new Browser(t.url);
      await signUp(b, u2);
      for (const body of [{}, { password: '' }, { password: 42 }, { password: 'y'.repeat(10_000) }]) {
        expectError(await b.post('/session/reauth', body), 400, 'VALIDATION', { fields: { password: expect.any(String) } });
      }
      expectError(await b.post('/session/reauth', { password: 'not the password' }), 401, 'INVALID_CREDENTIALS', { message: 'That password is not right' });
      expect((await b.get('/user')).status).toBe(200);
      const r = await b.post('/session/reauth', { password: u2.password });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ state: 'code', via: 'sms', retry_after: 30, purpose: 'reauth', passkey: false });
    });

    it('when GET /session/reauth has no full session then 401 UNAUTHENTICATED; a full one learns whether its proof is fresh (no-store)', async () => {
      expectError(await new Browser(t.url).get('/session/reauth'), 401, 'UNAUTHENTICATED');
      const u = newUser();
      const b = new Browser(t.url);
      await signUp(b, u);
      const fresh = await b.get('/session/reauth');
      expect(fresh.status).toBe(200);
      expect(fresh.headers.get('cache-control')).toBe('no-store');
      expect(fresh.body).toEqual({ fresh: true, reauth_until: expect.any(Number) });
      expect(fresh.body.reauth_until).toBeGreaterThan(Date.now() + 4 * 60_000);
      await ageProof(t, u.email);
      expect((await b.get('/session/reauth')).body).toEqual({ fresh: false, reauth_until: null });
      expect((await b.del('/session')).status).toBe(200);
      expect((await b.post('/session', { email: u.email, password: u.password })).status).toBe(200);
      expectError(await b.get('/session/reauth'), 401, 'UNAUTHENTICATED');
    });
  });
});
