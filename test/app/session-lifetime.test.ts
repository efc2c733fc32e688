import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/platform/clock.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { Browser, latestSmsCode, newUser, signUp } from './helpers.js';

forEachDatabase((kind) => {
  describe(`SMS cool-down and login attempt lifetime on ${kind}`, () => {
    const clock = new ManualClock(Date.now());
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, clock });
    });
    afterAll(async () => {
      await t?.stop();
    });

    async function halfLoggedIn() {
      const u = newUser();
      const b = new Browser(t.url);
      await signUp(b, u);
      expect((await b.del('/session')).status).toBe(200);
      const r = await b.post('/session', { email: u.email, password: u.password });
      expect(r.body).toMatchObject({ state: 'code', via: 'sms', retry_after: 30 });
      return { b, to: `+1${u.phone}` };
    }

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
});
