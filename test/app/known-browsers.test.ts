// The browsers an account has completed a login in (the password throttle's "known browsers"):
// at most KNOWN_BROWSERS_PER_USER per account, the least recently used forgotten first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KNOWN_BROWSERS_PER_USER } from '../../src/app/password-throttle.js';
import { ManualClock } from '../../src/platform/clock.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { passwordStep, totpAt, userWithTotp } from '../security/helpers.js';

forEachDatabase((kind) => {
  describe(`known browsers per account on ${kind}`, () => {
    const clock = new ManualClock(Date.now());
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, clock, env: { LOGIN_PER_ACCOUNT_LIMIT: '1000', LOGIN_PER_IP_LIMIT: '1000' } });
    });
    afterAll(() => t.stop());

    it(`when an account logs in from ${KNOWN_BROWSERS_PER_USER + 2} browsers then the ${KNOWN_BROWSERS_PER_USER} most recent are kept and the oldest forgotten`, async () => {
      const { u, secret } = await userWithTotp(t);
      const { id } = await t.system.db.selectFrom('app_users').select('id').where('email', '=', u.email).executeTakeFirstOrThrow();
      const hashes = async () => (await t.system.db.selectFrom('app_known_browsers').select(['browser_hash', 'last_login_at']).where('user_id', '=', id).orderBy('last_login_at').execute()).map((r) => r.browser_hash);
      const order: string[] = await hashes(); // the signup's browser
      const counts: number[] = [];
      for (let i = 0; i < KNOWN_BROWSERS_PER_USER + 2; i++) {
        clock.advance(30_000); // a fresh time step for each code
        const { b } = await passwordStep(t, u, 'code');
        expect((await b.post('/session/verify', { code: totpAt(secret, clock.now()) })).body.state).toBe('logged_in');
        const now = await hashes();
        order.push(...now.filter((h) => !order.includes(h)));
        counts.push(now.length);
      }
      // Each login added its browser until the cap; past it each new one pushed out the oldest.
      expect(counts).toEqual(Array.from({ length: KNOWN_BROWSERS_PER_USER + 2 }, (_, i) => Math.min(i + 2, KNOWN_BROWSERS_PER_USER)));
      expect(order).toHaveLength(KNOWN_BROWSERS_PER_USER + 3);
      expect(await hashes()).toEqual(order.slice(-KNOWN_BROWSERS_PER_USER));
    });
  });
});
