// Threat: someone with the password guesses second-factor codes — many in one login attempt, or
// across many login attempts and resends — so each attempt dies after OTP_MAX_ATTEMPTS (5) wrong
// codes, the account's second factor locks for OTP_LOCKOUT_SECONDS (15 min) after
// OTP_LOCKOUT_THRESHOLD (10) consecutive failures, answering exactly like a wrong code, and 100
// consecutive failures lock until an operator resets them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/platform/clock.js';
import { generateTotp, base32Decode } from '../../src/verify/core/totp.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { Browser, latestSmsCode, newUser, signUp } from '../app/helpers.js';
import { authy, lastSms, registerUser, secretFromUri } from '../verify/helpers.js';
import { otherCode, passwordStep, totpAt, userWithTotp } from './helpers.js';

forEachDatabase((kind) => {
  describe(`second-factor account lockout on ${kind}`, () => {
    let t: TestSystem;
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, clock, env: { SMS_PER_PHONE_LIMIT: '1000', SMS_PER_IP_LIMIT: '1000', LOGIN_PER_ACCOUNT_LIMIT: '100' } });
    });
    afterAll(() => t.stop());

    // ---- Through the web app (what an attacker with the password actually reaches) ----

    const verifyApp = (b: Browser, code: string) => b.post('/session/verify', { code });

    it('when OTP_MAX_ATTEMPTS (5) wrong codes are sent to one login attempt then it dies, and even the right code is refused', async () => {
      const { u, secret } = await userWithTotp(t);
      const { b } = await passwordStep(t, u);
      const right = totpAt(secret, clock.now());
      const lefts: unknown[] = [];
      for (let i = 0; i < 4; i++) {
        const r = await verifyApp(b, otherCode(right));
        expect(r.status).toBe(400);
        lefts.push(r.body.attempts_left);
      }
      expect(lefts).toEqual([4, 3, 2, 1]);
      const fifth = await verifyApp(b, otherCode(right));
      expect(fifth.status).toBe(403);
      expect(fifth.body.code).toBe('TOO_MANY_ATTEMPTS');
      expect((await verifyApp(b, right)).status).toBe(401);
      expect((await b.get('/user')).status).toBe(401);
    });

    it('when 20 wrong codes race on one login attempt then at most 5 reach the service and the attempt dies', async () => {
      const { u } = await userWithTotp(t);
      const { b } = await passwordStep(t, u);
      const burst = await Promise.all(Array.from({ length: 20 }, () => verifyApp(b, '000000')));
      expect(burst.filter((r) => r.status === 400).length).toBeLessThanOrEqual(4);
      expect(burst.every((r) => r.status === 400 || r.status === 403 || r.status === 401)).toBe(true);
      expect(burst.some((r) => r.status === 403 && r.body.code === 'TOO_MANY_ATTEMPTS')).toBe(true);
      const authyId = (await t.system.db.selectFrom('app_users').select('authy_id').where('email', '=', u.email).executeTakeFirstOrThrow()).authy_id!;
      const row = await t.system.db.selectFrom('verify_users').select('failed_verifications').where('id', '=', authyId).executeTakeFirstOrThrow();
      expect(row.failed_verifications).toBeLessThanOrEqual(5);
    });

    it('when 10 failures span two login attempts then the account locks: a new attempt, a resend and the right code change nothing, and the answer equals a wrong code', async () => {
      const { u, secret, to } = await userWithTotp(t);
      for (let attempt = 0; attempt < 2; attempt++) {
        const { b } = await passwordStep(t, u);
        for (let i = 0; i < 5; i++) await verifyApp(b, otherCode(totpAt(secret, clock.now())));
      }
      // A new challenge: a wrong code, then (in another new challenge) the right one.
      const wrong = await verifyApp((await passwordStep(t, u)).b, otherCode(totpAt(secret, clock.now())));
      const lockedTry = await passwordStep(t, u);
      const right = await verifyApp(lockedTry.b, totpAt(secret, clock.now()));
      expect(right.status).toBe(400);
      expect(right.body).toEqual(wrong.body);
      expect(right.body).toMatchObject({ code: 'CODE_INVALID', attempts_left: 4 });
      // Once the SMS code has aged out, a new login attempt is a new SMS challenge with a fresh
      // code: refused the same way. A resend sends another code, also refused, and the attempt's
      // budget goes on from where it was.
      clock.advance(10 * 60_000 + 1000);
      const smsTry = await passwordStep(t, u, 'code');
      expect(smsTry.body.via).toBe('sms');
      const first = await verifyApp(smsTry.b, (await latestSmsCode(t.url, to)).code);
      expect(first.body).toEqual(wrong.body);
      clock.advance(30_000);
      const resent = await smsTry.b.post('/session/resend', {});
      expect(resent.status).toBe(200);
      const second = await verifyApp(smsTry.b, (await latestSmsCode(t.url, to)).code);
      expect(second.status).toBe(400);
      expect(second.body).toMatchObject({ code: 'CODE_INVALID', attempts_left: 3 });
      expect((await smsTry.b.get('/user')).status).toBe(401);
      // After OTP_LOCKOUT_SECONDS the right code works again (and a success resets the count).
      clock.advance(5 * 60_000);
      const after = await passwordStep(t, u);
      expect((await verifyApp(after.b, totpAt(secret, clock.now()))).status).toBe(200);
      const authyId = (await t.system.db.selectFrom('app_users').select('authy_id').where('email', '=', u.email).executeTakeFirstOrThrow()).authy_id!;
      const row = await t.system.db.selectFrom('verify_users').select(['failed_verifications', 'locked_until']).where('id', '=', authyId).executeTakeFirstOrThrow();
      expect(row).toEqual({ failed_verifications: 0, locked_until: null });
    });

    it('when the second factor locks then the user page of a logged-in session lists the lockout among the newest events', async () => {
      const u = newUser();
      const page = new Browser(t.url);
      await signUp(page, u);
      for (let attempt = 0; attempt < 2; attempt++) {
        const { b } = await passwordStep(t, u);
        for (let i = 0; i < 5; i++) await verifyApp(b, '000000');
      }
      const me = await page.get('/user');
      expect(me.status).toBe(200);
      const events = me.body.events as { type: string; outcome: string }[];
      expect(events.length).toBeLessThanOrEqual(20);
      // The lockout (recorded by the service) comes just before the app's record of that failure.
      expect(events.slice(0, 2).map((e) => `${e.type}:${e.outcome}`)).toEqual(['second_factor:failure', 'lockout:info']);
    });

    it('when 9 failures are followed by a success then the next 9 failures do not lock', async () => {
      const { u, secret } = await userWithTotp(t);
      for (let attempt = 0; attempt < 2; attempt++) {
        const { b } = await passwordStep(t, u);
        for (let i = 0; i < (attempt === 0 ? 5 : 4); i++) await verifyApp(b, otherCode(totpAt(secret, clock.now())));
        if (attempt === 1) expect((await verifyApp(b, totpAt(secret, clock.now()))).status).toBe(200);
      }
      clock.advance(30_000);
      const { b } = await passwordStep(t, u);
      for (let i = 0; i < 4; i++) await verifyApp(b, otherCode(totpAt(secret, clock.now())));
      const b2 = (await passwordStep(t, u)).b;
      for (let i = 0; i < 4; i++) await verifyApp(b2, otherCode(totpAt(secret, clock.now())));
      expect((await verifyApp(b2, totpAt(secret, clock.now()))).status).toBe(200);
    });

    it('when a logged-in user confirms an authenticator app with wrong codes then after OTP_MAX_ATTEMPTS even the right code is 429', async () => {
      const b = new Browser(t.url);
      await signUp(b, newUser());
      const s = await b.post('/user/totp-app', {});
      const secret = new URL(String(s.body.uri)).searchParams.get('secret')!;
      const right = totpAt(secret, clock.now());
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await b.post('/user/totp-app/confirm', { code: otherCode(right) })).status);
      expect(statuses).toEqual([400, 400, 400, 400, 400]);
      const r = await b.post('/user/totp-app/confirm', { code: right });
      expect(r.status).toBe(429);
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    });

    // ---- At the service (the Authy-compatible API) ----

    async function enrolled(): Promise<{ id: number; code: () => string }> {
      const id = await registerUser(t.url, t.apiKey);
      const s = await authy(t.url, t.apiKey, 'POST', `/protected/json/users/${id}/secret`);
      const secret = base32Decode(secretFromUri(s.body['uri'] as string));
      // Enrolled as an app enrols a user: the first code confirms the new secret (an unconfirmed
      // one lapses after 15 minutes). The next step is then free for the test's own codes.
      expect((await authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${generateTotp(secret, clock.now())}/${id}`)).status).toBe(200);
      clock.advance(30_000);
      return { id, code: () => generateTotp(secret, clock.now()) };
    }
    const verify = (id: number, code: string) => authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${code}/${id}`);
    const wrong = (c: string) => String((Number(c) + 500_000) % 1_000_000).padStart(6, '0');

    it('when 10 consecutive failures happen then the correct code is refused with the wrong-code body until the lock ends', async () => {
      const u = await enrolled();
      let wrongAnswer = '';
      for (let i = 0; i < 10; i++) {
        const r = await verify(u.id, wrong(u.code()));
        expect(r.status).toBe(401);
        wrongAnswer = r.text;
      }
      const locked = await verify(u.id, u.code());
      expect(locked.status).toBe(401);
      expect(locked.text).toBe(wrongAnswer);
      clock.advance(901_000);
      expect((await verify(u.id, u.code())).status).toBe(200);
      const events = await t.system.platform.audit.forUser(`authy:${u.id}`, 50);
      expect(events.some((e) => e.type === 'lockout')).toBe(true);
      expect(events.some((e) => e.type === 'second_factor' && e.outcome === 'success' && e.detail['kind'] === 'totp')).toBe(true);
    });

    it('when a success comes before the threshold then the count starts again', async () => {
      const u = await enrolled();
      for (let i = 0; i < 9; i++) await verify(u.id, wrong(u.code()));
      expect((await verify(u.id, u.code())).status).toBe(200);
      clock.advance(30_000);
      for (let i = 0; i < 9; i++) await verify(u.id, wrong(u.code()));
      expect((await verify(u.id, u.code())).status).toBe(200);
    });

    it('when an SMS code is older than its 10-minute lifetime then it is refused', async () => {
      const id = await registerUser(t.url, t.apiKey, '201-555-0162');
      expect((await authy(t.url, t.apiKey, 'GET', `/protected/json/sms/${id}`, { force: 'true' })).status).toBe(200);
      const code = (await lastSms(t.url, '+12015550162'))!;
      clock.advance(10 * 60_000 + 1000);
      const r = await verify(id, code);
      expect(r.status).toBe(401);
      expect(r.body['error_code']).toBe('60020');
    });

    it('when a new SMS challenge is sent during a lock then its code is refused too', async () => {
      const id = await registerUser(t.url, t.apiKey, '201-555-0161');
      for (let i = 0; i < 10; i++) await verify(id, '123456');
      expect((await authy(t.url, t.apiKey, 'GET', `/protected/json/sms/${id}`, { force: 'true' })).status).toBe(200);
      const code = (await lastSms(t.url, '+12015550161'))!;
      const r = await verify(id, code);
      expect(r.status).toBe(401);
      expect(r.body['error_code']).toBe('60020');
    });

    it('when 20 wrong guesses race then at most 10 are compared before the lock', async () => {
      const u = await enrolled();
      await Promise.all(Array.from({ length: 20 }, () => verify(u.id, wrong(u.code()))));
      const row = await t.system.db.selectFrom('verify_users').select(['failed_verifications', 'locked_until']).where('id', '=', u.id).executeTakeFirstOrThrow();
      expect(row.failed_verifications).toBe(10);
      expect(row.locked_until).toBe(clock.now() + 900_000);
    });

    it('when steps fall out of the window then their used-step rows are pruned on the next success', async () => {
      const u = await enrolled();
      expect((await verify(u.id, u.code())).status).toBe(200);
      clock.advance(300_000);
      expect((await verify(u.id, u.code())).status).toBe(200);
      const rows = await t.system.db.selectFrom('totp_used_steps').select('step').where('user_id', '=', u.id).execute();
      expect(rows.map((r) => r.step)).toEqual([Math.floor(clock.now() / 30_000)]);
    });

    it('when 100 consecutive failures accumulate then the user stays locked until an operator resets it', async () => {
      const u = await enrolled();
      let failures = 0;
      while (failures < 100) {
        const r = await verify(u.id, wrong(u.code()));
        expect(r.status).toBe(401);
        const row = await t.system.db.selectFrom('verify_users').select('failed_verifications').where('id', '=', u.id).executeTakeFirstOrThrow();
        failures = row.failed_verifications;
        if (failures >= 10) clock.advance(901_000);
      }
      clock.advance(7 * 24 * 3600_000);
      expect((await verify(u.id, u.code())).status).toBe(401);
      // Operator reset (what `twofold apps unlock --user <id>` does).
      await t.system.db.updateTable('verify_users').set({ failed_verifications: 0, locked_until: null }).where('id', '=', u.id).execute();
      expect((await verify(u.id, u.code())).status).toBe(200);
    });
  });
});
