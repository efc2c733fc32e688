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

    /** Let the 15-minute window of one client's bucket at an account pass (the limiter's own clock). */
    async function windowPasses(email: string, ip: string) {
      const raw = t.system.platform.db.raw;
      const key = `app:login:client:${email}|ip:${ip}`;
      if (raw.kind === 'postgres') await raw.pool.query('UPDATE rate_limits SET expire = $1 WHERE key = $2', [Date.now() - 1, key]);
      else raw.sqlite.prepare('UPDATE rate_limits SET expire = ? WHERE key = ?').run(Date.now() - 1, key);
    }

    it('when one client gets LOGIN_PER_ACCOUNT_LIMIT tries at an account then its next is 429 for 15 minutes, even with the right password, and a new window lets it try again', async () => {
      const u = newUser();
      await signUp(new Browser(t.url), u, { headers: { 'x-forwarded-for': '192.0.2.250' } });
      const ip = '198.51.100.77';
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await login(u.email, 'wrong password!', ip)).status);
      const blocked = await login(u.email, u.password, ip);
      expect(statuses).toEqual([401, 401, 401]);
      expect(blocked.status).toBe(429);
      expect(blocked.body).toMatchObject({ code: 'RATE_LIMITED' });
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(800);
      expect(Number(blocked.headers.get('retry-after'))).toBeLessThanOrEqual(900);
      await windowPasses(u.email, ip);
      expect((await login(u.email, u.password, ip)).status).toBe(200);
    });

    it('when an account is hammered by a concurrent burst from many addresses then no more than the free tries and one gated try are checked', async () => {
      const u = newUser();
      await signUp(new Browser(t.url), u, { headers: { 'x-forwarded-for': '192.0.2.251' } });
      const results = await Promise.all(Array.from({ length: 12 }, () => login(u.email, 'wrong password!')));
      // Free tries: 2 × LOGIN_PER_ACCOUNT_LIMIT = 6; past them, one try per delay.
      expect(results.filter((r) => r.status === 401).length).toBe(7);
      expect(results.filter((r) => r.status === 429).length).toBe(5);
      const failures = (await auditRows(t, `app-user:${await appUserId(t, u.email)}`)).filter((e) => e.type === 'password');
      expect(failures).toHaveLength(7);
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
      const rows = await t.system.db.selectFrom('audit_events').select('ip').where('type', '=', 'password').execute();
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((r) => r.ip === '127.0.0.1' || r.ip === '::ffff:127.0.0.1')).toBe(true);
    });
  });
});
