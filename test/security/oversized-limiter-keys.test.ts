// Threat: a client's own input makes the server fail. Rate-limit counters are keyed by what the
// client types (an email, up to 254 characters) and where it comes from; on PostgreSQL the
// counters' key column holds 255 characters, so a long address would have made every count
// fail (500) instead of being counted, and, counted or not, a login must answer as for any
// other address.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

/** A valid address of exactly 254 characters (RFC 5321's limit), in lower case. */
function longestEmail(seed: string): string {
  const local = `${seed}${'x'.repeat(64 - seed.length)}`;
  const domain = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(254 - 64 - 1 - 63 - 1 - 63 - 1 - 4)}.com`;
  return `${local}@${domain}`;
}

forEachDatabase((kind) => {
  describe(`oversized limiter keys on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, env: { LOGIN_PER_ACCOUNT_LIMIT: '3', TRUST_PROXY: '1' } });
    });
    afterAll(() => t.stop());

    it('when logins come for a 254-character address then each is refused as any wrong password (401), and past the limit 429: counted, never a 500', async () => {
      const email = longestEmail('login');
      expect(email).toHaveLength(254);
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const r = await new Browser(t.url).post('/session', { email, password: 'not the password' }, { 'x-forwarded-for': '198.51.100.9' });
        statuses.push(r.status);
      }
      expect(statuses).toEqual([401, 401, 401, 429]);
    });

    it('when a reset link is asked for a 254-character address then the answer is the usual 202', async () => {
      const r = await new Browser(t.url).post('/password/forgot', { email: longestEmail('forgot') });
      expect(r.status).toBe(202);
    });
  });
});
