// Threats: a lost phone locks the owner out for good; a recovery code is used twice (replay or a
// concurrent burst); codes are read from a copy of the database; a code is guessed online.
//
// What stays here is about src/app/recovery-codes.ts itself (generation, normalising, the stored
// hashes, the store's redemption race) or spans two route modules (the wrong kind of session and
// CSRF, on POST /user/recovery-codes and POST /session/recover alike). The routes' own tests are
// in routes/account.test.ts (generating) and routes/login.test.ts (redeeming at login).
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
import type { AppDatabase } from '../../src/app/schema.js';
import { withTables } from '../../src/platform/db.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { Browser } from './helpers.js';
import { recoveryFixtures } from './routes/fixtures.js';

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

    const { account, generate, halfLogin, rows } = recoveryFixtures(() => t);

    it('when the table is dumped then no code is there in clear, only keyed hashes bound to the user', async () => {
      const { b, id } = await account();
      const codes = await generate(b);
      const dump = (await sql<Record<string, unknown>>`select * from app_recovery_codes`.execute(t.system.db)).rows;
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

    it('when 20 redemptions of one code race in the store itself then exactly one succeeds', async () => {
      const { b, id } = await account();
      const codes = await generate(b);
      const p = t.system.platform;
      const store = new RecoveryCodes(withTables<AppDatabase>(p.db), p.codeHasher, p.clock);
      const canonical = normaliseRecoveryCode(codes[9]!)!;
      const results = await Promise.all(Array.from({ length: 20 }, () => store.redeem(id, canonical)));
      expect(results.filter(Boolean)).toHaveLength(1);
      // Another user cannot redeem it either.
      expect(await store.redeem(id + 100_000, normaliseRecoveryCode(codes[8]!)!)).toBe(false);
      expect((await store.status(id)).remaining).toBe(9);
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
  });
});
