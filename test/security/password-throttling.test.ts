// Threat: online password guessing — many passwords against one account, or one password against
// many accounts (credential stuffing) — and its variant of spoofing `X-Forwarded-For` to get a
// fresh per-IP bucket for every guess.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, newUser, signUp } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { appUserId, auditRows } from './helpers.js';

forEachDatabase((kind) => {
  describe(`password throttling behind one trusted proxy (TRUST_PROXY=1) on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, env: { LOGIN_PER_ACCOUNT_LIMIT: '3', LOGIN_PER_IP_LIMIT: '6', TRUST_PROXY: '1' } });
    });
    afterAll(() => t.stop());

    let ipSeq = 0;
    /** A login through the proxy for a client at a fresh address (so only the account counts). */
    const login = (email: string, password: string, xff = `198.51.100.${++ipSeq % 250}`) => new Browser(t.url).post('/session', { email, password }, { 'x-forwarded-for': xff });

    /** Let the 15-minute window of an account's short bucket pass (the limiter's own clock). */
    async function windowPasses(email: string) {
      const raw = t.system.platform.db.raw;
      const key = `app:login:acct:${email}`;
      if (raw.kind === 'postgres') await raw.pool.query('UPDATE rate_limits SET expire = $1 WHERE key = $2', [Date.now() - 1, key]);
      else raw.sqlite.prepare('UPDATE rate_limits SET expire = ? WHERE key = ?').run(Date.now() - 1, key);
    }

    it('when an account gets LOGIN_PER_ACCOUNT_LIMIT tries then the next is 429 even with the right password, and the delays grow from 15 minutes to a day', async () => {
      const u = newUser();
      await signUp(new Browser(t.url), u, { headers: { 'x-forwarded-for': '192.0.2.250' } });
      // Round after round, each 15-minute window allows 3 tries; the 4th is refused, even with
      // the right password. Every try counts toward the day: at 3× the limit the delay is a day.
      const rounds: { statuses: number[]; retryAfter: number }[] = [];
      for (let round = 0; round < 4; round++) {
        const statuses: number[] = [];
        for (let i = 0; i < 3; i++) statuses.push((await login(u.email, 'wrong password!')).status);
        const blocked = await login(u.email, u.password);
        expect(blocked.status).toBe(429);
        expect(blocked.body).toMatchObject({ code: 'RATE_LIMITED' });
        rounds.push({ statuses, retryAfter: Number(blocked.headers.get('retry-after')) });
        await windowPasses(u.email);
      }
      expect(rounds[0]).toEqual({ statuses: [401, 401, 401], retryAfter: expect.any(Number) as number });
      expect(rounds[0]!.retryAfter).toBeGreaterThan(800);
      expect(rounds[0]!.retryAfter).toBeLessThanOrEqual(900);
      expect(rounds[1]!.statuses).toEqual([401, 401, 401]);
      expect(rounds[1]!.retryAfter).toBeLessThanOrEqual(900);
      // Third window: the 10th try of the day is refused for a day, and the window passing no
      // longer helps.
      expect(rounds[2]!.statuses).toEqual([401, 429, 429]);
      for (const r of rounds.slice(2)) {
        expect(r.retryAfter).toBeGreaterThan(80_000);
        expect(r.retryAfter).toBeLessThanOrEqual(86_400);
      }
      expect(rounds[3]!.statuses).toEqual([429, 429, 429]);
    });

    it('when an account is hammered by a concurrent burst then no more than the limit is checked', async () => {
      const u = newUser();
      await signUp(new Browser(t.url), u, { headers: { 'x-forwarded-for': '192.0.2.251' } });
      const results = await Promise.all(Array.from({ length: 12 }, () => login(u.email, 'wrong password!')));
      expect(results.filter((r) => r.status === 401).length).toBe(3);
      expect(results.filter((r) => r.status === 429).length).toBe(9);
      const failures = (await auditRows(t, `app-user:${await appUserId(t, u.email)}`)).filter((e) => e.type === 'password');
      expect(failures).toHaveLength(3);
    });

    it('when the client spoofs X-Forwarded-For entries before the proxy\'s then only the last hop counts and no fresh bucket is bought', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 9; i++) statuses.push((await login(`stuffing${i}@example.com`, 'guess guess', `10.9.9.${i}, 203.0.113.7`)).status);
      expect(statuses).toEqual([401, 401, 401, 401, 401, 401, 429, 429, 429]);
      // Another client (as the trusted proxy reports it) has its own bucket.
      expect((await login('stuffing-other@example.com', 'guess guess', '10.9.9.1, 203.0.113.8')).status).toBe(401);
    });
  });

  describe(`password throttling with no trusted proxy (TRUST_PROXY=0) on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, env: { LOGIN_PER_IP_LIMIT: '3', LOGIN_PER_ACCOUNT_LIMIT: '50', TRUST_PROXY: '0' } });
    });
    afterAll(() => t.stop());

    it('when one IP tries many accounts with a different spoofed X-Forwarded-For each time then it still gets 429 with Retry-After', async () => {
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < 6; i++) {
        const r = await new Browser(t.url).post('/session', { email: `victim${i}@example.com`, password: 'guess guess' }, { 'x-forwarded-for': `10.0.0.${i}` });
        statuses.push(r.status);
        if (r.status === 429) retryAfter = r.headers.get('retry-after');
      }
      expect(statuses).toEqual([401, 401, 401, 429, 429, 429]);
      expect(Number(retryAfter)).toBeGreaterThan(800);
    });

    it('when one IP signs up more than LOGIN_PER_IP_LIMIT accounts in an hour then 429, spoofed X-Forwarded-For or not', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await new Browser(t.url).post('/user', newUser(), { 'x-forwarded-for': `10.1.0.${i}` })).status);
      expect(statuses).toEqual([202, 202, 202, 429]);
    });

    it('when a request carries a spoofed X-Forwarded-For then the audit trail records the real peer address', async () => {
      const rows = await t.system.platform.db.db.selectFrom('audit_events').select('ip').where('type', '=', 'password').execute();
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((r) => r.ip === '127.0.0.1' || r.ip === '::ffff:127.0.0.1')).toBe(true);
    });
  });
});
