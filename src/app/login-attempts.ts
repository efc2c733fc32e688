import { randomBytes } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { Clock } from '../platform/clock.js';
import { changedRows, firstRow, prepared } from '../platform/prepared-query.js';
import type { AppDatabase } from './schema.js';
import type { AppTables } from './schema.js';

export type LoginAttempt = Selectable<AppTables['app_login_attempts']>;
/** An attempt as the routes read it: with its user's id at the service. */
export type AttemptWithUser = LoginAttempt & { authy_id: number | null; email: string };
export type ApprovalState = 'pending' | 'approved' | 'denied' | 'expired';

/** How long a login attempt (and its half session) lives: the SMS code's lifetime. */
export const ATTEMPT_TTL_MS = 10 * 60 * 1000;
/** Cool-down between two SMS for one attempt. */
export const SMS_COOL_DOWN_MS = 30 * 1000;

/** The event-bus channel of one attempt (ids are lower-case hex, so the name is valid). */
export const attemptChannel = (id: string) => `login.${id}`;

/**
 * Login attempts: one per accepted password. Every state change is a conditional UPDATE so
 * that the database, not JavaScript, decides what happens once.
 */
export class LoginAttempts {
  constructor(
    private readonly db: Kysely<AppDatabase>,
    private readonly clock: Clock,
  ) {}

  /** A new attempt, opened by the password or by a passkey that did not verify its user. */
  async create(userId: number, trx: Kysely<AppDatabase> = this.db, firstFactor: 'password' | 'passkey' = 'password'): Promise<LoginAttempt> {
    const now = this.clock.now();
    const row: LoginAttempt = {
      id: randomBytes(16).toString('hex'),
      user_id: userId,
      state: 'open',
      approval_uuid: null,
      approval_number: null,
      approval_status: null,
      approval_expires_at: null,
      approval_details: null,
      code_tries: 0,
      last_sms_at: null,
      first_factor: firstFactor,
      created_at: now,
      expires_at: now + ATTEMPT_TTL_MS,
    };
    await trx.insertInto('app_login_attempts').values(row).execute();
    return row;
  }

  /** The attempt, with its user's id at the service (read in the same statement). */
  async get(id: string): Promise<AttemptWithUser | undefined> {
    return firstRow(attemptWithUser(this.db, { id }));
  }

  /** Open and not past its lifetime. */
  isLive<T extends LoginAttempt>(a: T | undefined): a is T {
    return !!a && a.state === 'open' && this.clock.now() < a.expires_at;
  }

  /** The approval's status as the browser should see it (pending past its expiry = expired). */
  approvalState(a: LoginAttempt): ApprovalState | null {
    if (!a.approval_status) return null;
    if (a.approval_status === 'pending' && a.approval_expires_at !== null && this.clock.now() >= a.approval_expires_at) return 'expired';
    return a.approval_status;
  }

  async attachApproval(id: string, o: { uuid: string; number: string | null; expiresAt: number; details: Record<string, string> }, trx: Kysely<AppDatabase> = this.db): Promise<void> {
    await trx
      .updateTable('app_login_attempts')
      .set({
        approval_uuid: o.uuid,
        approval_number: o.number,
        approval_status: 'pending',
        approval_expires_at: o.expiresAt,
        approval_details: JSON.stringify(o.details),
      })
      .where('id', '=', id)
      .where('approval_uuid', 'is', null)
      .execute();
  }

  /** Record the device's answer once; false when it was already answered or expired. */
  async recordAnswer(id: string, uuid: string, status: 'approved' | 'denied'): Promise<boolean> {
    const r = await this.db
      .updateTable('app_login_attempts')
      .set({ approval_status: status })
      .where('id', '=', id)
      .where('approval_uuid', '=', uuid)
      .where('approval_status', '=', 'pending')
      .where('approval_expires_at', '>', this.clock.now())
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /**
   * Reserve one code try before checking it, so a concurrent burst cannot exceed the budget.
   * Returns the tries used including this one, or undefined when none is left.
   */
  async reserveCodeTry(id: string, max: number): Promise<number | undefined> {
    const row = await firstRow(claimCodeTry(this.db, { id, max, now: this.clock.now() }));
    return row?.code_tries;
  }

  /** Give back a try whose check never happened (the service was unreachable). */
  async refundCodeTry(id: string): Promise<void> {
    await this.db
      .updateTable('app_login_attempts')
      .set((eb) => ({ code_tries: eb('code_tries', '-', 1) }))
      .where('id', '=', id)
      .where('state', '=', 'open')
      .where('code_tries', '>', 0)
      .execute();
  }

  async kill(id: string): Promise<void> {
    await this.db.updateTable('app_login_attempts').set({ state: 'dead' }).where('id', '=', id).where('state', '=', 'open').execute();
  }

  /** open → done, once. With `requireApproved`, only when this attempt's own approval is approved. */
  async complete(id: string, userId: number, requireApproved: boolean, trx: Kysely<AppDatabase> = this.db): Promise<boolean> {
    return (await changedRows((requireApproved ? completeApproved : completeOpen)(trx, { id, userId, now: this.clock.now() }))) === 1;
  }

  /**
   * Start the SMS cool-down: succeeds (true) only when no SMS went out in the last
   * SMS_COOL_DOWN_MS (returns the time it recorded). Otherwise returns the seconds left.
   */
  async startSmsCoolDown(id: string): Promise<{ started: true; at: number } | { started: false; retryAfterSeconds: number }> {
    const now = this.clock.now();
    const r = await this.db
      .updateTable('app_login_attempts')
      .set({ last_sms_at: now })
      .where('id', '=', id)
      .where('state', '=', 'open')
      .where((eb) => eb.or([eb('last_sms_at', 'is', null), eb('last_sms_at', '<=', now - SMS_COOL_DOWN_MS)]))
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 1) return { started: true, at: now };
    const row = await this.get(id);
    const last = row?.last_sms_at ?? now;
    return { started: false, retryAfterSeconds: Math.max(1, Math.ceil((last + SMS_COOL_DOWN_MS - now) / 1000)) };
  }

  /** Forget the cool-down when the SMS could not be sent after all. */
  async clearSmsCoolDown(id: string, at: number): Promise<void> {
    await this.db.updateTable('app_login_attempts').set({ last_sms_at: null }).where('id', '=', id).where('last_sms_at', '=', at).execute();
  }

  async sweep(): Promise<void> {
    // Attempts long past their lifetime. Half sessions that pointed at them cascade away; a full
    // session that started a step-up and never finished it only lets go of the attempt.
    const cutoff = this.clock.now() - 24 * 3600 * 1000;
    const old = this.db.selectFrom('app_login_attempts').select('id').where('expires_at', '<', cutoff);
    await this.db.updateTable('app_sessions').set({ login_attempt_id: null }).where('state', '=', 'full').where('login_attempt_id', 'in', old).execute();
    await this.db.deleteFrom('app_login_attempts').where('expires_at', '<', cutoff).execute();
  }
}

// The second factor's hot statements, compiled once (src/platform/prepared-query.ts).
const attemptWithUser = prepared<AppDatabase, AttemptWithUser, { id: string }>((db, slot) =>
  db.selectFrom('app_login_attempts as a').innerJoin('app_users as u', 'u.id', 'a.user_id').selectAll('a').select(['u.authy_id', 'u.email']).where('a.id', '=', slot('id')),
);

const claimCodeTry = prepared<AppDatabase, { code_tries: number }, { id: string; max: number; now: number }>((db, slot) =>
  db
    .updateTable('app_login_attempts')
    .set((eb) => ({ code_tries: eb('code_tries', '+', 1) }))
    .where('id', '=', slot('id'))
    .where('state', '=', 'open')
    .where('code_tries', '<', slot('max'))
    .where('expires_at', '>', slot('now'))
    .returning('code_tries'),
);

type CompleteBindings = { id: string; userId: number; now: number };
const completeOpen = prepared<AppDatabase, unknown, CompleteBindings>((db, slot) =>
  db.updateTable('app_login_attempts').set({ state: 'done' }).where('id', '=', slot('id')).where('user_id', '=', slot('userId')).where('state', '=', 'open').where('expires_at', '>', slot('now')),
);
const completeApproved = prepared<AppDatabase, unknown, CompleteBindings>((db, slot) =>
  db
    .updateTable('app_login_attempts')
    .set({ state: 'done' })
    .where('id', '=', slot('id'))
    .where('user_id', '=', slot('userId'))
    .where('state', '=', 'open')
    .where('expires_at', '>', slot('now'))
    .where('approval_status', '=', 'approved'),
);
