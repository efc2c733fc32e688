import { sql, type Kysely } from 'kysely';
import { randomUUID } from 'node:crypto';
import type { CodeHasher } from '../../platform/crypto.js';
import { randomDigits } from '../../platform/crypto.js';
import type { Database } from '../../platform/schema.js';

/** Authy answered `seconds_to_expire: 599`; the challenge lives 10 minutes. */
export const PHONE_VERIFICATION_TTL_MS = 10 * 60 * 1000;

export type StartResult = { ok: true; uuid: string; code: string; expiresAt: number } | { ok: false; reason: 'attempts_exhausted' };
export type PhoneCheckResult = 'valid' | 'wrong' | 'none';

/**
 * Phone verification (Authy's Phone Verification API): one current challenge per app and phone,
 * the same rules as SMS codes (hashed, attempt budget counted before comparing, resend keeps the
 * budget and expiry, consumed once).
 */
export class PhoneVerifications {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly hasher: CodeHasher,
    private readonly maxAttempts: number,
  ) {}

  private purpose(appId: number, e164: string): string {
    return `phone:${appId}:${e164}`;
  }

  async start(appId: number, e164: string, codeLength: number, now: number): Promise<StartResult> {
    const code = randomDigits(codeLength);
    const alive = sql<boolean>`(phone_verifications.consumed_at IS NULL AND phone_verifications.expires_at > ${now})`;
    const row = await this.db
      .insertInto('phone_verifications')
      .values({
        uuid: randomUUID(),
        app_id: appId,
        phone_e164: e164,
        code_hash: this.hasher.hash(this.purpose(appId, e164), code),
        attempts: 0,
        max_attempts: this.maxAttempts,
        created_at: now,
        expires_at: now + PHONE_VERIFICATION_TTL_MS,
        consumed_at: null,
      })
      .onConflict((oc) =>
        oc.columns(['app_id', 'phone_e164']).doUpdateSet({
          uuid: sql<string>`CASE WHEN ${alive} THEN phone_verifications.uuid ELSE excluded.uuid END`,
          code_hash: (eb) => eb.ref('excluded.code_hash'),
          attempts: sql<number>`CASE WHEN ${alive} THEN phone_verifications.attempts ELSE 0 END`,
          max_attempts: sql<number>`CASE WHEN ${alive} THEN phone_verifications.max_attempts ELSE excluded.max_attempts END`,
          created_at: sql<number>`CASE WHEN ${alive} THEN phone_verifications.created_at ELSE excluded.created_at END`,
          expires_at: sql<number>`CASE WHEN ${alive} THEN phone_verifications.expires_at ELSE excluded.expires_at END`,
          consumed_at: null,
        }),
      )
      .returning(['uuid', 'attempts', 'max_attempts', 'expires_at'])
      .executeTakeFirstOrThrow();
    if (row.attempts >= row.max_attempts) return { ok: false, reason: 'attempts_exhausted' };
    return { ok: true, uuid: row.uuid, code, expiresAt: row.expires_at };
  }

  async check(appId: number, e164: string, code: string, now: number): Promise<PhoneCheckResult> {
    const claimed = await this.db
      .updateTable('phone_verifications')
      .set({ attempts: sql<number>`attempts + 1` })
      .where('app_id', '=', appId)
      .where('phone_e164', '=', e164)
      .where('consumed_at', 'is', null)
      .where('expires_at', '>', now)
      .where((eb) => eb('attempts', '<', eb.ref('max_attempts')))
      .returning(['uuid', 'code_hash'])
      .executeTakeFirst();
    if (!claimed) return 'none';
    if (!this.hasher.matches(this.purpose(appId, e164), code, claimed.code_hash)) return 'wrong';
    const consumed = await this.db
      .updateTable('phone_verifications')
      .set({ consumed_at: now })
      .where('uuid', '=', claimed.uuid)
      .where('consumed_at', 'is', null)
      .where('code_hash', '=', claimed.code_hash)
      .returning('uuid')
      .executeTakeFirst();
    return consumed ? 'valid' : 'wrong';
  }
}
