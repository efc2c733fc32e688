import type { CorePlatform } from '../schema.js';
import { AuditType } from '../../platform/audit.js';
import type { SecondFactorLockout } from './lockout.js';
import { PERMANENT_LOCK_FAILURES } from './lockout.js';
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
    const userRef = `authy:${user.id}`;
    const claim = await this.lockout.claim(user.id, now);
    if (!claim.allowed) {
      await this.p.audit.record({ type: AuditType.SECOND_FACTOR, outcome: 'failure', userRef, ...meta, detail: { reason: 'locked' } });
      return { ok: false, reason: 'locked' };
    }

    const candidates = await this.totp.candidates(user, o.includePending);
    if (token.length === TOTP_DIGITS) {
      // Every candidate is computed and compared in full, so the time taken does not say which
      // of the user's secrets matched.
      let match: { candidate: TotpCandidate; step: number } | undefined;
      for (const candidate of candidates) {
        const step = matchTotpStep(candidate.secret, token, now, { digits: TOTP_DIGITS, periodInSeconds: TOTP_PERIOD_SECONDS, window: 1 });
        if (step !== null && match === undefined) match = { candidate, step };
      }
      if (match) {
        const { candidate, step } = match;
        const inserted = await this.p.db.db
          .insertInto('totp_used_steps')
          .values({ user_id: user.id, step, used_at: now })
          .onConflict((oc) => oc.columns(['user_id', 'step']).doNothing())
          .returning('step')
          .executeTakeFirst();
        if (!inserted) {
          await this.fail(user.id, 'totp', 'reused', claim.failuresIfWrong, meta);
          return { ok: false, reason: 'reused' };
        }
        // Steps older than the ±1 window can never match again: keep the table bounded.
        await this.p.db.db.deleteFrom('totp_used_steps').where('user_id', '=', user.id).where('step', '<', step - 2).execute();
        let enrolled = false;
        if (candidate.pending) {
          const confirmed = await this.totp.confirmApp(user.id, candidate.id, meta);
          if (confirmed === 'gone') {
            // Replaced or removed between our read and now: its codes no longer count.
            await this.fail(user.id, 'totp', 'removed', claim.failuresIfWrong, meta);
            return { ok: false, reason: 'invalid' };
          }
          enrolled = confirmed === 'activated';
        } else {
          await this.totp.touch(candidate, now);
        }
        return this.succeed(user.id, { kind: 'totp', factor: candidate.factor, factorId: candidate.id, deviceId: candidate.deviceId, enrolled }, meta);
      }
    }

    const sms = await this.sms.check(user.id, token, now);
    if (sms === 'valid') return this.succeed(user.id, SMS, meta);
    // Which factor the failed token was most likely meant for: a live SMS challenge, else TOTP
    // when the user has a secret, else SMS (an expired or used code).
    const kind = sms === 'wrong' || candidates.length === 0 ? 'sms' : 'totp';
    await this.fail(user.id, kind, 'invalid', claim.failuresIfWrong, meta);
    return { ok: false, reason: 'invalid' };
  }

  private async succeed(userId: number, f: VerifiedFactor, meta: RequestMeta): Promise<VerifyOutcome> {
    await this.lockout.succeeded(userId);
    await this.p.audit.record({
      type: AuditType.SECOND_FACTOR,
      outcome: 'success',
      userRef: `authy:${userId}`,
      ...meta,
      detail: { kind: f.kind, factor: f.factor, factor_id: f.factorId },
    });
    return { ok: true, ...f };
  }

  private async fail(userId: number, kind: 'totp' | 'sms', reason: string, failures: number, meta: RequestMeta): Promise<void> {
    const userRef = `authy:${userId}`;
    await this.p.audit.record({ type: AuditType.SECOND_FACTOR, outcome: 'failure', userRef, ...meta, detail: { kind, reason } });
    if (this.lockout.locksAt(failures)) {
      await this.p.audit.record({
        type: AuditType.LOCKOUT,
        outcome: 'info',
        userRef,
        ...meta,
        detail: { failures, permanent: failures >= PERMANENT_LOCK_FAILURES, seconds: this.p.config.OTP_LOCKOUT_SECONDS },
      });
    }
  }
}
