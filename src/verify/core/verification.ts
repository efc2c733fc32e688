import type { CoreDatabase, CorePlatform } from '../schema.js';
import type { Kysely } from 'kysely';
import { AuditType, type AuditEvent } from '../../platform/audit.js';
import { firstRow, prepared } from '../../platform/prepared-query.js';
import type { SecondFactorLockout } from './lockout.js';
import { PERMANENT_LOCK_FAILURES, type AllowedClaim } from './lockout.js';
import type { SmsCodes } from './sms-codes.js';
import { TOTP_DIGITS, TOTP_PERIOD_SECONDS, type TotpCandidate, type TotpFactor, type TotpSecrets } from './totp-secrets.js';
import { matchTotpStep } from './totp.js';
import type { VerifyUser } from './users.js';

/** Which factor a successful token came from (Twofold extension fields of the verify answer). */
export type VerifiedFactor =
  | { kind: 'totp'; factor: TotpFactor; factorId: string; deviceId: string | null; enrolled: boolean }
  | { kind: 'sms'; factor: 'sms'; factorId: null; deviceId: null; enrolled: false };

export type VerifyOutcome = ({ ok: true } & VerifiedFactor) | { ok: false; reason: 'invalid' | 'reused' | 'locked' };

export interface RequestMeta {
  ip: string | null;
  userAgent: string | null;
}

const SMS: VerifiedFactor = { kind: 'sms', factor: 'sms', factorId: null, deviceId: null, enrolled: false };

/**
 * Verify a token (TOTP from any of the user's authenticators, or the current SMS code): lockout
 * claim, then TOTP against every secret of the user with ±1 step and each (user, step) usable once
 * across all of them (primary key on totp_used_steps), then the SMS challenge. A code of a pending
 * third-party app secret confirms it, which replaces the user's older app secret.
 */
export class TokenVerifier {
  constructor(
    private readonly p: CorePlatform,
    private readonly totp: TotpSecrets,
    private readonly sms: SmsCodes,
    private readonly lockout: SecondFactorLockout,
  ) {}

  /**
   * `includePending`: a code of a pending third-party app secret counts (and confirms it). The
   * Authy API's default, as Authy's own `/secret` was usable at once; a relying app asks for it
   * only where the user is confirming a new app, never at login.
   */
  async verify(user: VerifyUser, token: string, meta: RequestMeta, o: { includePending: boolean } = { includePending: true }): Promise<VerifyOutcome> {
    const now = this.p.clock.now();
    const db = this.p.db;
    // SQLite has one writer: the lockout state is read, the code compared and the outcome
    // written in one transaction that holds it throughout (one commit; a right code of a user
    // without failures leaves the user's row alone), so no other check of the user can come
    // between the read and the write. On PostgreSQL the claim (the try counted in advance, one
    // conditional UPDATE) commits alone first: its row lock held through the check would come
    // before the SMS code's, against the order every transaction keeps (see
    // test/security/verification-lock-order.test.ts).
    if (db.raw.kind === 'sqlite') return db.db.transaction().execute((trx) => this.check(trx, user, token, meta, o.includePending, now));
    return this.check(undefined, user, token, meta, o.includePending, now);
  }

  /**
   * In `trx` (SQLite): the claim inspected, then the rest. Without (PostgreSQL): the claim
   * committed on its own, then the rest in a transaction of its own.
   */
  private async check(trx: Kysely<CoreDatabase> | undefined, user: VerifyUser, token: string, meta: RequestMeta, includePending: boolean, now: number): Promise<VerifyOutcome> {
    const q = trx ?? this.p.db.db;
    const claim = trx ? await this.lockout.inspect(user.id, now, trx) : await this.lockout.claim(user.id, now, q);
    if (!claim.allowed) {
      await this.p.audit.record({ type: AuditType.SECOND_FACTOR, outcome: 'failure', userRef: `authy:${user.id}`, ...meta, detail: { reason: 'locked' } }, q);
      return { ok: false, reason: 'locked' };
    }
    const candidates = await this.totp.candidates(user, includePending, q);
    // Every candidate is computed and compared in full, so the time taken does not say which of
    // the user's secrets matched.
    let match: { candidate: TotpCandidate; step: number } | undefined;
    if (token.length === TOTP_DIGITS) {
      for (const candidate of candidates) {
        const step = matchTotpStep(candidate.secret, token, now, { digits: TOTP_DIGITS, periodInSeconds: TOTP_PERIOD_SECONDS, window: 1 });
        if (step !== null && match === undefined) match = { candidate, step };
      }
    }
    // The outcome and what it writes commit together. A claimed try (PostgreSQL) stays counted
    // whatever happens next; an inspected one (SQLite) is counted with its outcome, so a failure
    // of the database between the two counts nothing, and answers nothing either (503).
    const rest = async (t: Kysely<CoreDatabase>): Promise<VerifyOutcome> => {
      if (match) return this.totpMatched(t, user.id, match, claim, meta, now);
      const sms = await this.sms.check(user.id, token, now, t);
      if (sms === 'valid') return this.succeed(t, user.id, SMS, meta, claim);
      // Which factor the failed token was most likely meant for: a live SMS challenge, else TOTP
      // when the user has a secret, else SMS (an expired or used code).
      const kind = sms === 'wrong' || candidates.length === 0 ? 'sms' : 'totp';
      await this.fail(t, user.id, kind, 'invalid', claim, meta, now);
      return { ok: false, reason: 'invalid' };
    };
    return trx ? rest(trx) : this.p.db.db.transaction().execute(rest);
  }

  /** A code matched one of the user's secrets: its time step is spent once, then the factor is credited. */
  private async totpMatched(trx: Kysely<CoreDatabase>, userId: number, match: { candidate: TotpCandidate; step: number }, claim: AllowedClaim, meta: RequestMeta, now: number): Promise<VerifyOutcome> {
    const { candidate, step } = match;
    const inserted = await firstRow(spendStep(trx, { userId, step, now }));
    if (!inserted) {
      await this.fail(trx, userId, 'totp', 'reused', claim, meta, now);
      return { ok: false, reason: 'reused' };
    }
    // Steps older than the ±1 window can never match again: keep the table bounded.
    await forgetSteps(trx, { userId, before: step - 2 });
    let enrolled = false;
    if (candidate.pending) {
      const confirmed = await this.totp.confirmApp(userId, candidate.id, meta, trx);
      if (confirmed === 'gone') {
        // Replaced or removed between our read and now: its codes no longer count.
        await this.fail(trx, userId, 'totp', 'removed', claim, meta, now);
        return { ok: false, reason: 'invalid' };
      }
      enrolled = confirmed === 'activated';
    } else {
      await this.totp.touch(candidate, now, trx);
    }
    return this.succeed(trx, userId, { kind: 'totp', factor: candidate.factor, factorId: candidate.id, deviceId: candidate.deviceId, enrolled }, meta, claim);
  }

  private async succeed(trx: Kysely<CoreDatabase>, userId: number, f: VerifiedFactor, meta: RequestMeta, claim: AllowedClaim): Promise<VerifyOutcome> {
    await this.lockout.succeeded(userId, trx, claim);
    await this.p.audit.record({
      type: AuditType.SECOND_FACTOR,
      outcome: 'success',
      userRef: `authy:${userId}`,
      ...meta,
      detail: { kind: f.kind, factor: f.factor, factor_id: f.factorId },
    }, trx);
    return { ok: true, ...f };
  }

  private async fail(trx: Kysely<CoreDatabase>, userId: number, kind: 'totp' | 'sms', reason: string, claim: AllowedClaim, meta: RequestMeta, now: number): Promise<void> {
    await this.lockout.failed(userId, claim, now, trx);
    const failures = claim.failuresIfWrong;
    const userRef = `authy:${userId}`;
    const events: AuditEvent[] = [{ type: AuditType.SECOND_FACTOR, outcome: 'failure', userRef, ...meta, detail: { kind, reason } }];
    if (this.lockout.locksAt(failures)) {
      events.push({
        type: AuditType.LOCKOUT,
        outcome: 'info',
        userRef,
        ...meta,
        detail: { failures, permanent: failures >= PERMANENT_LOCK_FAILURES, seconds: this.p.config.OTP_LOCKOUT_SECONDS },
      });
    }
    await this.p.audit.recordMany(events, trx);
  }
}

/** A (user, time step) spent: the primary key lets each be spent once, across all the user's secrets. */
const spendStep = prepared<CoreDatabase, { step: number }, { userId: number; step: number; now: number }>((db, slot) =>
  db
    .insertInto('totp_used_steps')
    .values({ user_id: slot('userId'), step: slot('step'), used_at: slot('now') })
    .onConflict((oc) => oc.columns(['user_id', 'step']).doNothing())
    .returning('step'),
);

const forgetSteps = prepared<CoreDatabase, unknown, { userId: number; before: number }>((db, slot) =>
  db.deleteFrom('totp_used_steps').where('user_id', '=', slot('userId')).where('step', '<', slot('before')),
);
