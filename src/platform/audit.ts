import type { Kysely, Transaction } from 'kysely';
import type { Clock } from './clock.js';
import { narrowTables } from './db.js';
import type { PlatformTables } from './schema.js';
import { prepared } from './prepared-query.js';

/** Every authentication event Twofold records (SECURITY.md lists the audit trail). */
export const AuditType = {
  SIGNUP: 'signup',
  PASSWORD: 'password',
  SECOND_FACTOR_SENT: 'second_factor_sent',
  SECOND_FACTOR: 'second_factor',
  APPROVAL_REQUESTED: 'approval_requested',
  APPROVAL_ANSWERED: 'approval_answered',
  DEVICE_ACTIVATED: 'device_activated',
  DEVICE_REVOKED: 'device_revoked',
  /** A TOTP secret of one authenticator (device or third-party app) was created, confirmed by its first code, or removed. */
  TOTP_SECRET_CREATED: 'totp_secret_created',
  TOTP_SECRET_ACTIVATED: 'totp_secret_activated',
  TOTP_SECRET_REMOVED: 'totp_secret_removed',
  RECOVERY_CODES_GENERATED: 'recovery_codes_generated',
  LOCKOUT: 'lockout',
  LOGIN: 'login',
  LOGOUT: 'logout',
  /** A logged-in session proved the password and a second factor again (step-up). */
  REAUTH: 'reauth',
  /** A reset link was asked for (recorded for unknown addresses too, without a user). */
  PASSWORD_RESET_REQUESTED: 'password_reset_requested',
  PASSWORD_RESET: 'password_reset',
  /** Sessions ended from the account page: `which` is 'this', 'one' or 'others' (with `count`). */
  SESSION_ENDED: 'session_ended',
  PASSWORD_CHANGED: 'password_changed',
  EMAIL_CHANGE_REQUESTED: 'email_change_requested',
  EMAIL_CHANGED: 'email_changed',
  PHONE_CHANGED: 'phone_changed',
  /** A browser that skipped the second factor was removed from the account page. */
  REMEMBERED_BROWSER_FORGOTTEN: 'remembered_browser_forgotten',
  /** A passkey was registered, renamed or removed on the account page. */
  PASSKEY_ADDED: 'passkey_added',
  PASSKEY_RENAMED: 'passkey_renamed',
  PASSKEY_REMOVED: 'passkey_removed',
  /** A passkey's signature counter went backwards (a copied authenticator): it is refused from then on. */
  PASSKEY_CLONED: 'passkey_cloned',
  /** A passkey opened a login without a password (`user_verified` says whether it was the whole login). */
  PASSKEY_SIGNIN: 'passkey_signin',
} as const;
export type AuditTypeValue = (typeof AuditType)[keyof typeof AuditType];

export interface AuditEvent {
  type: AuditTypeValue;
  outcome: 'success' | 'failure' | 'info';
  userRef?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  /** Non-secret facts only: factor kind, device id, a reason code. Never a code, key or token. */
  detail?: Record<string, string | number | boolean | null>;
}

export interface StoredAuditEvent extends Required<Omit<AuditEvent, 'detail'>> {
  id: number;
  at: number;
  detail: Record<string, string | number | boolean | null>;
}

/** Append-only audit trail in the shared database. */
export class AuditLog {
  constructor(
    private readonly db: Kysely<PlatformTables>,
    private readonly clock: Clock,
  ) {}

  /** Records in `trx` when given (a context's transaction: the event commits with the change). */
  async record<T extends PlatformTables>(e: AuditEvent, trx?: Kysely<T> | Transaction<T>): Promise<void> {
    await this.recordMany([e], trx);
  }

  /** Several events in one statement (in `trx` when given). */
  async recordMany<T extends PlatformTables>(events: AuditEvent[], trx?: Kysely<T> | Transaction<T>): Promise<void> {
    if (events.length === 0) return;
    const at = this.clock.now();
    const q = trx ? narrowTables<PlatformTables, T>(trx) : this.db;
    // One event (nearly every call) from a statement compiled once; several in one statement.
    if (events.length === 1) await insertOne(q, auditRow(events[0]!, at));
    else await q.insertInto('audit_events').values(events.map((e) => auditRow(e, at))).execute();
  }

  /** The newest `limit` events of a user, newest first. */
  async forUser(userRef: string, limit = 20): Promise<StoredAuditEvent[]> {
    const rows = await this.db
      .selectFrom('audit_events')
      .selectAll()
      .where('user_ref', '=', userRef)
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      id: r.id,
      at: r.at,
      type: r.type as AuditTypeValue,
      outcome: r.outcome as AuditEvent['outcome'],
      userRef: r.user_ref,
      ip: r.ip,
      userAgent: r.user_agent,
      detail: r.detail ? (JSON.parse(r.detail) as StoredAuditEvent['detail']) : {},
    }));
  }
}

/** An event as its row: address and user agent cut to their column's use, detail as JSON. */
type AuditRow = ReturnType<typeof auditRow>;

const insertOne = prepared<PlatformTables, unknown, AuditRow>((db, slot) =>
  db.insertInto('audit_events').values({
    at: slot('at'),
    type: slot('type'),
    outcome: slot('outcome'),
    user_ref: slot('user_ref'),
    ip: slot('ip'),
    user_agent: slot('user_agent'),
    detail: slot('detail'),
  }),
);

function auditRow(e: AuditEvent, at: number) {
  return {
    at,
    type: e.type,
    outcome: e.outcome,
    user_ref: e.userRef ?? null,
    ip: e.ip?.slice(0, 64) ?? null,
    user_agent: e.userAgent?.slice(0, 256) ?? null,
    detail: e.detail ? JSON.stringify(e.detail) : null,
  };
}
