// The second factor of a login or a step-up (src/app/routes/second-factor.ts): asking for it (an
// approval on a device, else a code by SMS), the attempt's life (liveAttempt), too many wrong codes
// (endAttempt: the attempt and the session end, the cookie is cleared, 403), and completing it in
// one transaction (completeSecondFactor, finishLogin). Its routes are login.ts's and
// status-stream.ts's; these tests go through them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/platform/clock.js';
import { forEachDatabase } from '../../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../../helpers/system.js';
import { Browser, eventually, latestSmsCode, newUser, signUp } from '../helpers.js';
import { expectError, otherCode, passwordStep, pendingFor, smsHalfLogin, totpNow, userWithDevice, watchStatus } from './fixtures.js';

forEachDatabase((kind) => {
  describe(`login approved on an authenticator on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(async () => {
      await t?.stop();
    });

    it('when the device approves with the number then the SSE stream says approved and /session/complete logs in with a new token', async () => {
      const { u, device } = await userWithDevice(t);
      const { b, number, details } = await passwordStep(t, u);
      expect(number).toMatch(/^\d{2}$/);
      expect(details).toMatchObject({ Email: u.email, Browser: 'Chrome on Linux' });
      const json = await b.get('/authy/status');
      expect(json.body).toMatchObject({ status: 'pending', number });
      expect((await b.post('/session/complete', {})).status).toBe(409);
      const watching = watchStatus(b);
      const [req] = await pendingFor(device, 1);
      expect(req!.details).toMatchObject({ Email: u.email });
      const answer = await device.answer(req!, 'approve', number);
      expect(answer.status).toBe(200);
      expect(await watching).toEqual(['pending', 'approved']);
      const half = b.cookie;
      const done = await b.post('/session/complete', {});
      expect(done.status).toBe(200);
      expect(b.cookie).not.toBe(half);
      expect((await b.get('/user')).status).toBe(200);
      // Completing twice is refused: the half token is gone.
      const replay = new Browser(t.url);
      replay.cookie = half;
      expect((await replay.post('/session/complete', {})).status).toBe(401);
    });

    /** Threat: a race between two completions yielding two logged-in sessions from one approval. */
    it('when /session/complete is called concurrently after one approval then exactly one new session is issued', async () => {
      const { u, device } = await userWithDevice(t);
      const { b, number } = await passwordStep(t, u);
      const [req] = await pendingFor(device, 1);
      expect((await device.answer(req!, 'approve', number)).status).toBe(200);
      await eventually(async () => ((await b.get('/authy/status')).body.status === 'approved' ? true : undefined));
      const half = b.cookie;
      const burst = await Promise.all(
        Array.from({ length: 6 }, async () => {
          const c = new Browser(t.url);
          c.cookie = half;
          const r = await c.post('/session/complete', {});
          return { status: r.status, cookie: c.cookie };
        }),
      );
      const ok = burst.filter((r) => r.status === 200);
      expect(ok).toHaveLength(1);
      expect(burst.filter((r) => r.status !== 200).every((r) => r.status === 401 || r.status === 409)).toBe(true);
      const winner = new Browser(t.url);
      winner.cookie = ok[0]!.cookie;
      expect((await winner.get('/user')).status).toBe(200);
    });

    /** Threat: an approval tapped by reflex for someone else's login (number matching). */
    it('when the device sends the wrong number then the approval is refused and the attempt stays pending', async () => {
      const { u, device } = await userWithDevice(t);
      const { b, number } = await passwordStep(t, u);
      const [req] = await pendingFor(device, 1);
      const wrong = number === '00' ? '01' : '00';
      expect((await device.answer(req!, 'approve', wrong)).status).toBe(403);
      expect((await b.get('/authy/status')).body.status).toBe('pending');
      expect((await b.post('/session/complete', {})).status).toBe(409);
    });

    it('when the device denies then the stream says denied, completion is refused and a code still works', async () => {
      const { u, device } = await userWithDevice(t);
      const { b } = await passwordStep(t, u);
      const watching = watchStatus(b);
      const [req] = await pendingFor(device, 1);
      expect((await device.answer(req!, 'deny', null)).status).toBe(200);
      expect(await watching).toEqual(['pending', 'denied']);
      expect((await b.post('/session/complete', {})).status).toBe(409);
      const code = totpNow(device.totpSecret);
      const v = await b.post('/session/verify', { code });
      expect(v.status).toBe(200);
      expect((await b.get('/user')).status).toBe(200);
      const me = await b.get('/user');
      const types = (me.body.events as { type: string; outcome: string; detail: Record<string, unknown> }[]).map((e) => `${e.type}:${e.outcome}:${String(e.detail.kind ?? e.detail.status ?? '')}`);
      expect(types).toEqual(expect.arrayContaining(['approval_answered:failure:denied', 'second_factor:success:totp', 'login:success:totp']));
    });
  });

  describe(`login attempt lifetime on ${kind}`, () => {
    const clock = new ManualClock(Date.now());
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, clock });
    });
    afterAll(async () => {
      await t?.stop();
    });

    const halfLoggedIn = () => smsHalfLogin(t);

    it('when a login attempt is older than 10 minutes then its code no longer completes it', async () => {
      const { b, to } = await halfLoggedIn();
      const { code } = await latestSmsCode(t.url, to);
      clock.advance(10 * 60_000 + 1000);
      const r = await b.post('/session/verify', { code });
      expect(r.status).toBe(401);
      expect(r.body.code).toBe('LOGIN_EXPIRED');
      expect((await b.get('/user')).status).toBe(401);
    });
  });

  describe(`second factor: wrong codes end the attempt, an ended step-up keeps the session on ${kind}`, () => {
    const clock = new ManualClock(Date.now());
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, clock });
    });
    afterAll(async () => {
      await t?.stop();
    });

    /** A signed-up user without an authenticator, logged out. */
    async function smsUser() {
      const u = newUser();
      const b = new Browser(t.url);
      await signUp(b, u);
      return { u, b, to: `+1${u.phone}` };
    }

    it('when a login has a wrong code OTP_MAX_ATTEMPTS times then 400 CODE_INVALID counts down, the last is 403 TOO_MANY_ATTEMPTS, and the attempt, session and cookie end', async () => {
      const { u, b: owner, to } = await smsUser();
      expect((await owner.del('/session')).status).toBe(200);
      const b = new Browser(t.url);
      expect((await b.post('/session', { email: u.email, password: u.password })).body).toMatchObject({ state: 'code', via: 'sms' });
      const half = b.cookie;
      const { code } = await latestSmsCode(t.url, to);
      for (const left of [4, 3, 2, 1]) {
        expectError(await b.post('/session/verify', { code: otherCode(code) }), 400, 'CODE_INVALID', { message: 'That code is not right. Check it and try again.', attempts_left: left });
      }
      const last = await b.post('/session/verify', { code: otherCode(code) });
      expectError(last, 403, 'TOO_MANY_ATTEMPTS', { message: 'Too many wrong codes. Please log in again.' });
      expect(last.headers.getSetCookie().some((c) => c.startsWith('twofold=;'))).toBe(true);
      expect(b.cookie).toBeUndefined();
      // The half session is gone: even the right code on the old cookie reaches nothing.
      const again = new Browser(t.url);
      again.cookie = half;
      expectError(await again.post('/session/verify', { code }), 401, 'UNAUTHENTICATED');
      expectError(await again.get('/user'), 401, 'UNAUTHENTICATED');
    });

    it('when a step-up has a wrong code OTP_MAX_ATTEMPTS times then 403 TOO_MANY_ATTEMPTS ends the full session too', async () => {
      const { u, b, to } = await smsUser();
      const start = await b.post('/session/reauth', { password: u.password });
      expect(start.body).toMatchObject({ state: 'code', via: 'sms', purpose: 'reauth' });
      const { code } = await latestSmsCode(t.url, to);
      for (const left of [4, 3, 2, 1]) {
        expectError(await b.post('/session/verify', { code: otherCode(code) }), 400, 'CODE_INVALID', { attempts_left: left });
      }
      expectError(await b.post('/session/verify', { code: otherCode(code) }), 403, 'TOO_MANY_ATTEMPTS');
      expect(b.cookie).toBeUndefined();
      expectError(await b.get('/user'), 401, 'UNAUTHENTICATED');
    });

    it('when a step-up attempt is older than 10 minutes then 409 REAUTH_EXPIRED, the session stays logged in and may start the step-up again', async () => {
      const { u, b } = await smsUser();
      expect((await b.post('/session/reauth', { password: u.password })).status).toBe(200);
      const cookie = b.cookie;
      clock.advance(10 * 60_000 + 1000);
      for (const r of [await b.post('/session/verify', { code: '123456' }), await b.post('/session/resend', {}), await b.post('/session/complete', {}), await b.post('/session/recover', { code: 'zzzzz-zzzzz' })]) {
        expectError(r, 409, 'REAUTH_EXPIRED', { message: 'This confirmation has ended; please confirm again' });
      }
      expect(b.cookie).toBe(cookie);
      expect((await b.get('/user')).status).toBe(200);
      expect((await b.get('/session/reauth')).body).toEqual({ fresh: false, reauth_until: null });
      const restart = await b.post('/session/reauth', { password: u.password });
      expect(restart.status).toBe(200);
      expect(restart.body).toMatchObject({ state: 'code', purpose: 'reauth' });
    });

    it('when a step-up is completed with its SMS code then 200 reauthenticated with reauth_until five minutes on, and the session is not rotated', async () => {
      const { u, b, to } = await smsUser();
      clock.advance(6 * 60_000);
      expect((await b.get('/session/reauth')).body.fresh).toBe(false);
      expect((await b.post('/session/reauth', { password: u.password })).status).toBe(200);
      const cookie = b.cookie;
      const { code } = await latestSmsCode(t.url, to);
      const done = await b.post('/session/verify', { code });
      expect(done.status).toBe(200);
      expect(done.body).toEqual({ state: 'reauthenticated', reauth_until: clock.now() + 5 * 60_000 });
      expect(b.cookie).toBe(cookie);
      expect((await b.get('/session/reauth')).body).toEqual({ fresh: true, reauth_until: clock.now() + 5 * 60_000 });
      // The step-up's attempt is over: its routes now see no second factor in progress.
      expectError(await b.post('/session/verify', { code }), 401, 'UNAUTHENTICATED');
    });
  });
});
