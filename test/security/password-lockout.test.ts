// Threat: denial of login. Someone without the password sends wrong passwords for an account until
// the throttling that protects it refuses its owner too. The owner's known browser must still get
// in while an attack from elsewhere runs; the account-wide count grows delays, never a day's block,
// and stops unknown clients at a ceiling (NIST 800-63B: at most 100 consecutive failures).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountDelaySeconds, KNOWN_BROWSER_DAYS } from '../../src/app/password-throttle.js';
import { ManualClock } from '../../src/platform/clock.js';
import { Browser, newUser, signUp } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { appUserId, auditRows } from './helpers.js';

describe('growing delays', () => {
  it('when failures pass the free tries then each further try waits 1 minute, doubling every 10 failures, at most 2 hours', () => {
    expect([0, 19].map((f) => accountDelaySeconds(f, 20))).toEqual([0, 0]);
    expect([20, 29, 30, 40, 50, 60, 70, 80, 99].map((f) => accountDelaySeconds(f, 20))).toEqual([60, 60, 120, 240, 480, 960, 1920, 3840, 7200]);
  });
});

forEachDatabase((kind) => {
  describe(`password lockout cannot be turned against the owner on ${kind}`, () => {
    let t: TestSystem;
    // Free tries: 2 × 3 = 6; ceiling 20 (defaults: 20 and 100).
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, env: { LOGIN_PER_ACCOUNT_LIMIT: '3', LOGIN_ACCOUNT_CEILING: '20', LOGIN_PER_IP_LIMIT: '1000', TRUST_PROXY: '1' } });
    });
    afterAll(() => t.stop());

    let ipSeq = 0;
    const freshIp = () => `198.18.${Math.floor(++ipSeq / 250)}.${ipSeq % 250}`;
    /** One password try from `b` (a new browser by default) at the address `ip`. */
    const login = (email: string, password: string, ip = freshIp(), b = new Browser(t.url)) => b.post('/session', { email, password }, { 'x-forwarded-for': ip });

    /** Let the account's current delay pass (the gate's window, on the limiter's own clock). */
    async function delayPasses(email: string) {
      const raw = t.system.platform.db.raw;
      const key = `app:login:acct:gate:${email}`;
      if (raw.kind === 'postgres') await raw.pool.query('UPDATE rate_limits SET expire = $1 WHERE key = $2', [Date.now() - 1, key]);
      else raw.sqlite.prepare('UPDATE rate_limits SET expire = ? WHERE key = ?').run(Date.now() - 1, key);
    }

    /** Let every per-client 15-minute window at the account pass. */
    async function clientWindowsPass(email: string) {
      const raw = t.system.platform.db.raw;
      const like = `app:login:client:${email}|%`;
      if (raw.kind === 'postgres') await raw.pool.query('UPDATE rate_limits SET expire = $1 WHERE key LIKE $2', [Date.now() - 1, like]);
      else raw.sqlite.prepare('UPDATE rate_limits SET expire = ? WHERE key LIKE ?').run(Date.now() - 1, like);
    }

    /** A user whose browser completed a signup (so it is known to the account). */
    async function owner() {
      const u = newUser();
      const home = new Browser(t.url);
      await signUp(home, u, { headers: { 'x-forwarded-for': freshIp() } });
      expect(home.browserCookie).toMatch(/^twofold-browser=[A-Za-z0-9_-]{43}$/);
      home.cookie = undefined;
      return { u, home };
    }

    it('when an attacker sends 30 wrong passwords from one address then the owner logs in at once from another address', async () => {
      const { u } = await owner();
      const attacker = freshIp();
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) statuses.push((await login(u.email, `wrong password ${i}`, attacker)).status);
      expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
      expect(statuses.slice(3).every((s) => s === 429)).toBe(true);
      const ownerTry = await login(u.email, u.password);
      expect(ownerTry.status).toBe(200);
      expect(ownerTry.body).toMatchObject({ state: expect.any(String) as string });
    });

    it('when attackers from many addresses keep guessing then delays grow and unknown clients stop at the ceiling, while the owner\'s known browser still gets in and its success starts the count again', async () => {
      const { u, home } = await owner();
      const statuses: number[] = [];
      const refusals: { code: unknown; wait: number }[] = [];
      // 6 free tries, then one per delay: a second try at once is told how long to wait.
      for (let i = 0; i < 17; i++) {
        statuses.push((await login(u.email, 'wrong password!')).status);
        const again = await login(u.email, 'wrong password!');
        if (again.status === 429) refusals.push({ code: again.body.code, wait: Number(again.headers.get('retry-after')) });
        else statuses.push(again.status);
        await delayPasses(u.email);
      }
      expect(statuses).toEqual(Array.from({ length: 20 }, () => 401));
      // Failures 7–16 wait 1 minute, from the 17th 2 minutes; the 21st meets the ceiling.
      const waits = refusals.slice(0, -1).map((r) => r.wait);
      expect(refusals.slice(0, -1).every((r) => r.code === 'RATE_LIMITED')).toBe(true);
      expect(waits).toHaveLength(13);
      expect(waits.slice(0, 9).every((w) => w > 50 && w <= 60)).toBe(true);
      expect(waits.slice(10).every((w) => w > 110 && w <= 120)).toBe(true);
      expect(refusals.at(-1)!.code).toBe('ACCOUNT_LOCKED');
      // At the ceiling (20 consecutive failures) unknown clients are refused, the right password too.
      const locked = await login(u.email, u.password);
      expect(locked.status).toBe(429);
      expect(locked.body).toMatchObject({ code: 'ACCOUNT_LOCKED' });
      expect(String(locked.body.message)).toMatch(/browser you have used/);
      // The owner's browser is known: it gets in.
      const known = await login(u.email, u.password, freshIp(), home);
      expect(known.status).toBe(200);
      // Its correct password ended the consecutive failures: anyone may try again.
      expect((await login(u.email, 'wrong password!')).status).toBe(401);
      const failures = (await auditRows(t, `app-user:${await appUserId(t, u.email)}`)).filter((e) => e.type === 'password' && e.outcome === 'failure');
      expect(failures).toHaveLength(21);
    });

    it('when an attacker sends his own account\'s known-browser cookie to another account then it is not known there', async () => {
      const victim = await owner();
      const attacker = await owner();
      // The victim's account reaches the ceiling from unknown clients.
      for (let i = 0; i < 40; i++) {
        await login(victim.u.email, 'wrong password!');
        await delayPasses(victim.u.email);
      }
      expect((await login(victim.u.email, victim.u.password)).body).toMatchObject({ code: 'ACCOUNT_LOCKED' });
      // The attacker's browser is known to his own account only.
      const r = await login(victim.u.email, 'wrong password!', freshIp(), attacker.home);
      expect(r.status).toBe(429);
      expect(r.body).toMatchObject({ code: 'ACCOUNT_LOCKED' });
      // A made-up cookie is no better.
      const forged = new Browser(t.url);
      forged.browserCookie = `twofold-browser=${'A'.repeat(43)}`;
      expect((await login(victim.u.email, victim.u.password, freshIp(), forged)).body).toMatchObject({ code: 'ACCOUNT_LOCKED' });
      // The victim's own browser still gets in.
      expect((await login(victim.u.email, victim.u.password, freshIp(), victim.home)).status).toBe(200);
    });

    it('when someone copies the owner\'s known-browser cookie and guesses with it then after the free tries it counts as unknown and meets the ceiling', async () => {
      const { u, home } = await owner();
      const thief = new Browser(t.url);
      thief.browserCookie = home.browserCookie;
      let checked = 0;
      const codes: unknown[] = [];
      for (let i = 0; i < 60; i++) {
        const r = await login(u.email, `guess ${i}`, freshIp(), thief);
        if (r.status === 401) checked++;
        else codes.push(r.body.code);
        await delayPasses(u.email);
        await clientWindowsPass(u.email);
      }
      // 6 as a known browser, then as an unknown client up to the ceiling (20): never more.
      expect(checked).toBe(6 + 20);
      expect(codes.at(-1)).toBe('ACCOUNT_LOCKED');
      // The copied cookie is the owner's browser's too: that browser is unknown now, like any
      // other, until a correct password is proved from a browser still known (or 30 days pass).
      expect((await login(u.email, u.password, freshIp(), home)).body).toMatchObject({ code: 'ACCOUNT_LOCKED' });
    });

    it('when an attacker rotates through the addresses of one IPv6 /64 then they count as one client', async () => {
      const { u } = await owner();
      const statuses: number[] = [];
      for (let i = 1; i <= 5; i++) statuses.push((await login(u.email, 'wrong password!', `2001:db8:77:1::${i.toString(16)}`)).status);
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
      // Another /64 is another client.
      expect((await login(u.email, 'wrong password!', '2001:db8:77:2::1')).status).toBe(401);
    });

    it('when a concurrent burst from many addresses arrives past the free tries then exactly one try per delay is checked', async () => {
      const { u } = await owner();
      for (let i = 0; i < 6; i++) expect((await login(u.email, 'wrong password!')).status).toBe(401);
      const burst = await Promise.all(Array.from({ length: 10 }, () => login(u.email, 'wrong password!')));
      expect(burst.filter((r) => r.status === 401)).toHaveLength(1);
      expect(burst.filter((r) => r.status === 429)).toHaveLength(9);
      // The refused tries were given back: the count is 7, so the next gated try still waits 1 minute.
      await delayPasses(u.email);
      expect((await login(u.email, 'wrong password!')).status).toBe(401);
      expect(Number((await login(u.email, 'wrong password!')).headers.get('retry-after'))).toBeLessThanOrEqual(60);
    });

    it('when the email has no account then every try gets the same answers as for one that has (no enumeration through the lockout)', async () => {
      const { u } = await owner();
      const absent = `absent-${u.email}`;
      const run = async (email: string) => {
        const out: (number | string)[] = [];
        for (let i = 0; i < 9; i++) {
          const r = await login(email, 'wrong password!');
          out.push(r.status === 429 ? String(r.body.code) : r.status);
        }
        return out;
      };
      const present = await run(u.email);
      expect(present).toEqual([401, 401, 401, 401, 401, 401, 401, 'RATE_LIMITED', 'RATE_LIMITED']);
      expect(await run(absent)).toEqual(present);
    });
  });

  describe(`known browsers age out on ${kind}`, () => {
    const clock = new ManualClock();
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, clock, env: { LOGIN_PER_ACCOUNT_LIMIT: '3', LOGIN_ACCOUNT_CEILING: '6', LOGIN_PER_IP_LIMIT: '1000', TRUST_PROXY: '1' } });
    });
    afterAll(() => t.stop());

    it(`when a browser has not logged in to the account for ${KNOWN_BROWSER_DAYS} days then it is known no more`, async () => {
      const u = newUser();
      const home = new Browser(t.url);
      await signUp(home, u, { headers: { 'x-forwarded-for': '198.19.0.1' } });
      home.cookie = undefined;
      // Six failures from elsewhere reach this account's ceiling.
      for (let i = 0; i < 6; i++) expect((await new Browser(t.url).post('/session', { email: u.email, password: 'wrong password!' }, { 'x-forwarded-for': `198.19.1.${i}` })).status).toBe(401);
      const tryHome = () => home.post('/session', { email: u.email, password: u.password }, { 'x-forwarded-for': '198.19.0.1' });
      clock.advance((KNOWN_BROWSER_DAYS - 1) * 86_400_000);
      expect((await tryHome()).status).toBe(200);
      home.cookie = undefined;
      // That login refreshed it; the account's failures start again. Reach the ceiling once more.
      for (let i = 0; i < 6; i++) expect((await new Browser(t.url).post('/session', { email: u.email, password: 'wrong password!' }, { 'x-forwarded-for': `198.19.2.${i}` })).status).toBe(401);
      clock.advance((KNOWN_BROWSER_DAYS + 1) * 86_400_000);
      expect((await tryHome()).body).toMatchObject({ code: 'ACCOUNT_LOCKED' });
    });
  });
});
