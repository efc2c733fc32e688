import type { Kysely, RawBuilder } from 'kysely';
import { sql } from '../../platform/kysely.js';
import type { CodeHasher } from '../../platform/crypto.js';
import type { CoreDatabase } from '../schema.js';

/** Where one kind of challenge lives: its table, the columns naming its subject (unique together), its row id. */
export interface ChallengeTable {
  table: 'sms_codes' | 'phone_verifications';
  /** The subject's columns, e.g. `user_id`, or `app_id` and `phone_e164`. */
  subject: readonly string[];
  /** The row's id: a generated integer `id`, or a `uuid` the caller makes (kept while the challenge lives). */
  id: 'id' | 'uuid';
}

export type ChallengeCheck = 'valid' | 'wrong' | 'none';
export type ChallengeIssue = { ok: true; id: string; expiresAt: number } | { ok: false; reason: 'attempts_exhausted'; expiresAt: number };

type Subject = Record<string, string | number>;

/**
 * One-time codes, one live challenge per subject (a unique index on its subject columns), stored
 * only as a keyed hash, with an expiry and an attempt budget. The same rules for every kind:
 * - a resend while the challenge lives only replaces the hash (the budget and the expiry stay, so
 *   resending never buys guesses), decided by one upsert so parallel sends cannot fork it;
 * - a check counts the attempt by a conditional UPDATE before comparing (parallel wrong guesses
 *   never pass the budget), and a match is consumed by a second conditional UPDATE (once).
 */
export class ChallengeStore {
  constructor(
    private readonly db: Kysely<CoreDatabase>,
    private readonly hasher: CodeHasher,
    private readonly maxAttempts: number,
    private readonly t: ChallengeTable,
  ) {}

  private where(subject: Subject): RawBuilder<unknown> {
    return sql.join(
      this.t.subject.map((c) => sql`${sql.ref(c)} = ${subject[c]}`),
      sql` AND `,
    );
  }

  /** A new code's hash for `subject` (`purpose` binds the hash to it), valid `ttlMs` unless a live challenge keeps its own expiry. */
  async issue(subject: Subject, purpose: string, code: string, ttlMs: number, now: number, newId?: string): Promise<ChallengeIssue> {
    const table = sql.table(this.t.table);
    const alive = sql`(${table}.consumed_at IS NULL AND ${table}.expires_at > ${now})`;
    const keep = (c: string) => sql`${sql.ref(c)} = CASE WHEN ${alive} THEN ${table}.${sql.ref(c)} ELSE excluded.${sql.ref(c)} END`;
    const columns = [...this.t.subject, ...(this.t.id === 'uuid' ? ['uuid'] : []), 'code_hash', 'attempts', 'max_attempts', 'created_at', 'expires_at', 'consumed_at'];
    const values = [...this.t.subject.map((c) => subject[c]), ...(this.t.id === 'uuid' ? [newId] : []), this.hasher.hash(purpose, code), 0, this.maxAttempts, now, now + ttlMs, null];
    const { rows } = await sql<{ id: string | number; attempts: number; max_attempts: number; expires_at: number | string }>`
      INSERT INTO ${table} (${sql.join(columns.map((c) => sql.ref(c)))}) VALUES (${sql.join(values)})
      ON CONFLICT (${sql.join(this.t.subject.map((c) => sql.ref(c)))}) DO UPDATE SET
        ${this.t.id === 'uuid' ? sql`${keep('uuid')},` : sql``}
        code_hash = excluded.code_hash,
        attempts = CASE WHEN ${alive} THEN ${table}.attempts ELSE 0 END,
        ${keep('max_attempts')}, ${keep('created_at')}, ${keep('expires_at')},
        consumed_at = NULL
      RETURNING ${sql.ref(this.t.id)} AS id, attempts, max_attempts, expires_at`.execute(this.db);
    const row = rows[0]!;
    const expiresAt = Number(row.expires_at);
    if (row.attempts >= row.max_attempts) return { ok: false, reason: 'attempts_exhausted', expiresAt };
    return { ok: true, id: String(row.id), expiresAt };
  }

  /** `q`: the caller's transaction, when the check is part of one. */
  async check(subject: Subject, purpose: string, code: string, now: number, q: Kysely<CoreDatabase> = this.db): Promise<ChallengeCheck> {
    const table = sql.table(this.t.table);
    const id = sql.ref(this.t.id);
    const claimed = (
      await sql<{ id: string | number; code_hash: string }>`
        UPDATE ${table} SET attempts = attempts + 1
        WHERE ${this.where(subject)} AND consumed_at IS NULL AND expires_at > ${now} AND attempts < max_attempts
        RETURNING ${id} AS id, code_hash`.execute(q)
    ).rows[0];
    if (!claimed) return 'none';
    if (!this.hasher.matches(purpose, code, claimed.code_hash)) return 'wrong';
    const consumed = await sql`
      UPDATE ${table} SET consumed_at = ${now}
      WHERE ${id} = ${claimed.id} AND consumed_at IS NULL AND code_hash = ${claimed.code_hash}
      RETURNING ${id}`.execute(q);
    return consumed.rows.length ? 'valid' : 'wrong';
  }
}
