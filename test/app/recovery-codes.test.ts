// Threats: a lost phone locks the owner out for good; a recovery code is used twice (replay or a
// concurrent burst); codes are read from a copy of the database; a code is guessed online.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  formatRecoveryCode,
  generateRecoveryCode,
  generateRecoveryCodeSet,
  normaliseRecoveryCode,
  RECOVERY_ALPHABET,
  RECOVERY_CODE_BITS,
  RecoveryCodes,
} from '../../src/app/recovery-codes.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { Browser, newUser, signUp } from './helpers.js';

const DISPLAY = /^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$/;

describe('recovery code generation', () => {
  it('when a set is generated then 10 distinct codes of 10 unambiguous symbols (xxxxx-xxxxx), 50 bits each', () => {
    expect(RECOVERY_ALPHABET).toHaveLength(32);
    expect(RECOVERY_ALPHABET).not.toMatch(/[ILOU]/);
    expect(RECOVERY_CODE_BITS).toBeGreaterThanOrEqual(50);
    const set = generateRecoveryCodeSet();
    expect(set).toHaveLength(10);
    expect(new Set(set).size).toBe(10);
    for (const c of set) {
      expect(c).toMatch(/^[0-9A-HJKMNP-TV-Z]{10}$/);
      expect(formatRecoveryCode(c)).toMatch(DISPLAY);
    }
  });

  it('when many codes are drawn then every symbol of the alphabet appears about equally often and none repeats', () => {
    const counts = new Map<string, number>();
    const seen = new Set<string>();
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const c = generateRecoveryCode();
      seen.add(c);
      for (const ch of c) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    }
    expect(seen.size).toBe(n);
    expect(counts.size).toBe(32);
    const expected = (n * 10) / 32;
    // Chi-squared with 31 degrees of freedom: 61.1 is the 0.1 % tail.
    let chi = 0;
    for (const v of counts.values()) chi += (v - expected) ** 2 / expected;
    expect(chi).toBeLessThan(61.1);
  });

  it('when the random source is injected then each symbol is the low 5 bits of one byte (no modulo bias), and repeats are drawn again', () => {
    expect(generateRecoveryCode(() => Buffer.alloc(10, 0))).toBe('0000000000');
    expect(generateRecoveryCode(() => Buffer.alloc(10, 31))).toBe('ZZZZZZZZZZ');
    expect(generateRecoveryCode(() => Buffer.alloc(10, 32 + 10))).toBe('AAAAAAAAAA');
    let i = 0;
    const repeating = (n: number) => Buffer.alloc(n, Math.floor(i++ / 2));
    const set = generateRecoveryCodeSet(3, repeating);
    expect(set).toEqual(['0000000000', '1111111111', '2222222222']);
  });

  it('when input is normalised then case, spaces, dashes and look-alike letters do not matter, and anything else is refused', () => {
    expect(normaliseRecoveryCode('abcde-fghjk')).toBe('ABCDEFGHJK');
    expect(normaliseRecoveryCode(' AbCdE fGhJk ')).toBe('ABCDEFGHJK');
    expect(normaliseRecoveryCode('ab-cd-ef-gh-jk')).toBe('ABCDEFGHJK');
    expect(normaliseRecoveryCode('abcde\u2013fghjk')).toBe('ABCDEFGHJK');
    expect(normaliseRecoveryCode('oOiIl-LL000')).toBe('0011111000');
    expect(normaliseRecoveryCode('abcde-fghju')).toBeNull();
    expect(normaliseRecoveryCode('abcde-fghj')).toBeNull();
    expect(normaliseRecoveryCode('abcde-fghjkm')).toBeNull();
    expect(normaliseRecoveryCode('ａｂｃｄｅ-ｆｇｈｊｋ')).toBeNull();
    expect(normaliseRecoveryCode('abcde-fghj🙂')).toBeNull();
    expect(normaliseRecoveryCode('a'.repeat(100_000))).toBeNull();
    expect(normaliseRecoveryCode('')).toBeNull();
  });
});

forEachDatabase((kind) => {
  describe(`recovery codes on ${kind}`, () => {
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

    /** A signed-up user (logged out) and a browser logged in as them. */
    async function account() {
      const u = newUser();
      const b = new Browser(t.url);
      await signUp(b, u);
      const me = await b.get('/user');
      return { u, b, id: (me.body.user as { id: number }).id };
    }

    async function generate(b: Browser): Promise<string[]> {
      const r = await b.post('/user/recovery-codes', {});
      expect(r.status).toBe(201);
      return r.body.codes as string[];
    }

    /** A browser after the password step (a half session). */
    async function halfLogin(u: { email: string; password: string }): Promise<Browser> {
      const b = new Browser(t.url);
      const r = await b.post('/session', { email: u.email, password: u.password });
      expect(r.status).toBe(200);
      expect(r.body.state).toBe('code');
      return b;
    }

    const rows = (id: number) => t.system.platform.db.db.selectFrom('app_recovery_codes').selectAll().where('user_id', '=', id).execute();

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

    it('when the table is dumped then no code is there in clear, only keyed hashes bound to the user', async () => {
      const { b, id } = await account();
      const codes = await generate(b);
      const dump = (await sql<Record<string, unknown>>`select * from app_recovery_codes`.execute(t.system.platform.db.db)).rows;
      const text = JSON.stringify(dump, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
      for (const c of codes) {
        const canonical = normaliseRecoveryCode(c)!;
        for (const form of [c, canonical, canonical.toLowerCase(), c.toUpperCase()]) expect(text).not.toContain(form);
      }
      const mine = await rows(id);
      expect(mine).toHaveLength(10);
      const hasher = t.system.platform.codeHasher;
      const expected = codes.map((c) => hasher.hash(`recovery:${id}`, normaliseRecoveryCode(c)!)).sort();
      expect(mine.map((r) => r.code_hash).sort()).toEqual(expected);
      // The hash is bound to the user: the same code for someone else hashes differently.
      expect(hasher.hash(`recovery:${id + 1}`, normaliseRecoveryCode(codes[0]!)!)).not.toBe(expected[0]);
    });

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

    it('when 20 redemptions of one code race in the store itself then exactly one succeeds', async () => {
      const { b, id } = await account();
      const codes = await generate(b);
      const p = t.system.platform;
      const store = new RecoveryCodes(p.db, p.codeHasher, p.clock);
      const canonical = normaliseRecoveryCode(codes[9]!)!;
      const results = await Promise.all(Array.from({ length: 20 }, () => store.redeem(id, canonical)));
      expect(results.filter(Boolean)).toHaveLength(1);
      // Another user cannot redeem it either.
      expect(await store.redeem(id + 100_000, normaliseRecoveryCode(codes[8]!)!)).toBe(false);
      expect((await store.status(id)).remaining).toBe(9);
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

    it('when recovery routes are called with the wrong kind of session then 401', async () => {
      const { u, b } = await account();
      // A full session cannot "recover" (there is no login in progress).
      expect((await b.post('/session/recover', { code: 'zzzzz-zzzzz' })).status).toBe(401);
      // No session at all.
      const none = new Browser(t.url);
      expect((await none.post('/session/recover', { code: 'zzzzz-zzzzz' })).status).toBe(401);
      expect((await none.post('/user/recovery-codes', {})).status).toBe(401);
      // A half session cannot generate codes (it would be a way around the second factor).
      const half = await halfLogin(u);
      const gen = await half.post('/user/recovery-codes', {});
      expect(gen.status).toBe(401);
      expect(gen.body.codes).toBeUndefined();
    });

    it.each([
      ['POST', '/user/recovery-codes'],
      ['POST', '/session/recover'],
    ])('when %s %s comes cross-site (foreign Origin, or a form body) then 403 CSRF', async (method, path) => {
      const { b } = await account();
      const foreign = await b.request(method, path, { code: 'zzzzz-zzzzz' }, { origin: 'https://attacker.example' });
      expect(foreign.status).toBe(403);
      expect(foreign.body.code).toBe('CSRF');
      const form = await b.request(method, path, 'code=zzzzz-zzzzz', { 'content-type': 'application/x-www-form-urlencoded' });
      expect(form.status).toBe(403);
      expect(form.body.code).toBe('CSRF');
      expect(((await b.get('/user')).body.recovery_codes as { remaining: number }).remaining).toBe(0);
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
});
