import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Clock } from '../platform/clock.js';
import type { CodeHasher } from '../platform/crypto.js';
import type { Db } from '../platform/db.js';
import type { AppDatabase } from './schema.js';

/**
 * Crockford's base32 alphabet: digits and upper-case letters without I, L, O and U, so no two
 * symbols look alike. 32 symbols = 5 bits each.
 */
export const RECOVERY_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** Symbols per code (shown as two groups of five). */
export const RECOVERY_CODE_LENGTH = 10;
/** Entropy of one code: 10 symbols × 5 bits. */
export const RECOVERY_CODE_BITS = RECOVERY_CODE_LENGTH * Math.log2(RECOVERY_ALPHABET.length);
/** Codes in one set. */
export const RECOVERY_CODE_COUNT = 10;

export type RandomBytes = (n: number) => Buffer;

/**
 * One code as its canonical 10 upper-case symbols. Each symbol is the low 5 bits of one random
 * byte: 256 is a multiple of 32, so every symbol is equally likely (no modulo bias).
 */
export function generateRecoveryCode(random: RandomBytes = randomBytes): string {
  const bytes = random(RECOVERY_CODE_LENGTH);
  if (bytes.length !== RECOVERY_CODE_LENGTH) throw new Error('random source returned the wrong length');
  let out = '';
  for (const b of bytes) out += RECOVERY_ALPHABET[b & 31];
  return out;
}

/** `count` distinct codes (canonical form). */
export function generateRecoveryCodeSet(count = RECOVERY_CODE_COUNT, random: RandomBytes = randomBytes): string[] {
  const set = new Set<string>();
  // A repeat within one set has probability about 45 / 2^50; drawing again keeps the set distinct.
  while (set.size < count) set.add(generateRecoveryCode(random));
  return [...set];
}

/** How a canonical code is shown to the user: lower case, `xxxxx-xxxxx`. */
export function formatRecoveryCode(canonical: string): string {
  const c = canonical.toLowerCase();
  return `${c.slice(0, 5)}-${c.slice(5)}`;
}

const CANONICAL = new RegExp(`^[${RECOVERY_ALPHABET}]{${RECOVERY_CODE_LENGTH}}$`);

/**
 * What the user typed → the canonical code, or null when it cannot be one. Case does not matter;
 * spaces and dashes (including typographic dashes a copy may bring) are dropped; the letters
 * Crockford's alphabet leaves out read as the digits they resemble (O → 0, I and L → 1).
 */
export function normaliseRecoveryCode(input: string): string | null {
  if (input.length > 64) return null;
  const c = input
    .replace(/[\s\-\u2010-\u2015\u2212_]/g, '')
    .toUpperCase()
    .replace(/O/g, '0')
    .replace(/[IL]/g, '1');
  return CANONICAL.test(c) ? c : null;
}

export interface RecoveryStatus {
  /** Unused codes of the current set (0 when none was ever generated). */
  remaining: number;
  /** When the current set was generated, or null. */
  generated_at: number | null;
}

/**
 * A user's recovery codes. Only keyed hashes are stored (CodeHasher, purpose `recovery:<userId>`,
 * so a hash means nothing for another user or without the server key). Redemption is one
 * conditional UPDATE: the database, not JavaScript, lets a code through once.
 */
export class RecoveryCodes {
  constructor(
    private readonly db: Db<AppDatabase>,
    private readonly hasher: CodeHasher,
    private readonly clock: Clock,
    private readonly random: RandomBytes = randomBytes,
  ) {}

  private hash(userId: number, canonical: string): string {
    return this.hasher.hash(`recovery:${userId}`, canonical);
  }

  /**
   * A new set replaces every earlier code (used or not) in one transaction; returns the codes in
   * display form. They exist in clear only in this return value.
   */
  async regenerate(userId: number): Promise<{ codes: string[]; generatedAt: number }> {
    const codes = generateRecoveryCodeSet(RECOVERY_CODE_COUNT, this.random);
    const now = this.clock.now();
    const rows = codes.map((c) => ({ user_id: userId, code_hash: this.hash(userId, c), created_at: now, used_at: null }));
    await this.db.db.transaction().execute(async (trx) => {
      // PostgreSQL: lock the user row so two concurrent regenerations run one after the other
      // (otherwise both could delete the old set and both insert, leaving 20 codes). SQLite
      // already runs one write transaction at a time.
      if (this.db.kind === 'postgres') {
        await trx.selectFrom('app_users').select('id').where('id', '=', userId).forUpdate().executeTakeFirst();
      }
      await trx.deleteFrom('app_recovery_codes').where('user_id', '=', userId).execute();
      await trx.insertInto('app_recovery_codes').values(rows).execute();
    });
    return { codes: codes.map(formatRecoveryCode), generatedAt: now };
  }

  /**
   * Mark `canonical` used for this user, once: true only for the request whose UPDATE changed the
   * row. Pass `trx` to make the redemption part of a larger transaction.
   */
  async redeem(userId: number, canonical: string, trx: Kysely<AppDatabase> = this.db.db): Promise<boolean> {
    const r = await trx
      .updateTable('app_recovery_codes')
      .set({ used_at: this.clock.now() })
      .where('user_id', '=', userId)
      .where('code_hash', '=', this.hash(userId, canonical))
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async status(userId: number, trx: Kysely<AppDatabase> = this.db.db): Promise<RecoveryStatus> {
    const row = await trx
      .selectFrom('app_recovery_codes')
      .where('user_id', '=', userId)
      .select((eb) => [
        eb.fn.max('created_at').as('generated_at'),
        eb.fn.count<number | string>('id').filterWhere('used_at', 'is', null).as('remaining'),
      ])
      .executeTakeFirst();
    const generated = row?.generated_at;
    return {
      remaining: Number(row?.remaining ?? 0),
      generated_at: generated === null || generated === undefined ? null : Number(generated),
    };
  }
}
