import { sql, type Kysely } from 'kysely';
import type { CodeHasher } from '../../platform/crypto.js';
import { randomDigits } from '../../platform/crypto.js';
import type { Database } from '../../platform/schema.js';

export const SMS_CODE_DIGITS = 6;
export const SMS_CODE_TTL_MS = 10 * 60 * 1000;

export type IssueResult = { ok: true; code: string; expiresAt: number } | { ok: false; reason: 'attempts_exhausted'; expiresAt: number };
export type CheckResult = 'valid' | 'wrong' | 'none';

/**
 * SMS codes: one current challenge per user (unique index on user_id). Codes are 6 random digits,
 * stored only as a keyed hash, valid 10 minutes, with an attempt budget.
 */
export class SmsCodes {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly hasher: CodeHasher,
    private readonly maxAttempts: number,
  ) {}

  private purpose(userId: number): string {
    return `sms:${userId}`;
  }

  /**
   * A new code for the user. While the current challenge lives (not consumed, not expired) a
   * resend only replaces the hash: the attempt budget and the expiry stay, so resending never
   * buys more guesses. One upsert decides, so parallel sends cannot fork the challenge.
   */
  async issue(userId: number, now: number): Promise<IssueResult> {
    const code = randomDigits(SMS_CODE_DIGITS);
    const alive = sql<boolean>`(sms_codes.consumed_at IS NULL AND sms_codes.expires_at > ${now})`;
    const row = await this.db
      .insertInto('sms_codes')
      .values({
        user_id: userId,
        code_hash: this.hasher.hash(this.purpose(userId), code),
        attempts: 0,
        max_attempts: this.maxAttempts,
        created_at: now,
        expires_at: now + SMS_CODE_TTL_MS,
        consumed_at: null,
      })
      .onConflict((oc) =>
        oc.column('user_id').doUpdateSet({
          code_hash: (eb) => eb.ref('excluded.code_hash'),
          attempts: sql<number>`CASE WHEN ${alive} THEN sms_codes.attempts ELSE 0 END`,
          max_attempts: sql<number>`CASE WHEN ${alive} THEN sms_codes.max_attempts ELSE excluded.max_attempts END`,
          created_at: sql<number>`CASE WHEN ${alive} THEN sms_codes.created_at ELSE excluded.created_at END`,
          expires_at: sql<number>`CASE WHEN ${alive} THEN sms_codes.expires_at ELSE excluded.expires_at END`,
          consumed_at: null,
        }),
      )
      .returning(['attempts', 'max_attempts', 'expires_at'])
      .executeTakeFirstOrThrow();
    if (row.attempts >= row.max_attempts) return { ok: false, reason: 'attempts_exhausted', expiresAt: row.expires_at };
    return { ok: true, code, expiresAt: row.expires_at };
  }

  /**
   * Check a code. The attempt is counted by a conditional UPDATE before comparing, so parallel
   * wrong guesses can never exceed the budget; a match is consumed by a second conditional UPDATE,
   * so it succeeds once.
   */
  async check(userId: number, code: string, now: number): Promise<CheckResult> {
    const claimed = await this.db
      .updateTable('sms_codes')
      .set({ attempts: sql<number>`attempts + 1` })
      .where('user_id', '=', userId)
      .where('consumed_at', 'is', null)
      .where('expires_at', '>', now)
      .where((eb) => eb('attempts', '<', eb.ref('max_attempts')))
      .returning(['id', 'code_hash'])
      .executeTakeFirst();
    if (!claimed) return 'none';
    if (!this.hasher.matches(this.purpose(userId), code, claimed.code_hash)) return 'wrong';
    const consumed = await this.db
      .updateTable('sms_codes')
      .set({ consumed_at: now })
      .where('id', '=', claimed.id)
      .where('consumed_at', 'is', null)
      .where('code_hash', '=', claimed.code_hash)
      .returning('id')
      .executeTakeFirst();
    return consumed ? 'valid' : 'wrong';
  }
}
