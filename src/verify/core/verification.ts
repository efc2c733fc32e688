import type { Platform } from '../../platform/context.js';
import { AuditType } from '../../platform/audit.js';
import type { SecondFactorLockout } from './lockout.js';
import { PERMANENT_LOCK_FAILURES } from './lockout.js';
import type { SmsCodes } from './sms-codes.js';
import type { TotpSecrets } from './totp-secrets.js';
import { matchTotpStep } from './totp.js';
import type { VerifyUser } from './users.js';
import { TOTP_DIGITS, TOTP_PERIOD_SECONDS } from './totp-secrets.js';

export type VerifyOutcome =
  | { ok: true; kind: 'totp' | 'sms' }
  | { ok: false; reason: 'invalid' | 'reused' | 'locked' };

export interface RequestMeta {
  ip: string | null;
  userAgent: string | null;
}

/**
 * Verify a token (TOTP from any authenticator, or the current SMS code) for a user:
 * lockout claim, then TOTP with ±1 step and each step usable once (primary key on
 * totp_used_steps), then the SMS challenge.
 */
export class TokenVerifier {
  constructor(
    private readonly p: Platform,
    private readonly totp: TotpSecrets,
    private readonly sms: SmsCodes,
    private readonly lockout: SecondFactorLockout,
  ) {}

  async verify(user: VerifyUser, token: string, meta: RequestMeta): Promise<VerifyOutcome> {
    const now = this.p.clock.now();
    const userRef = `authy:${user.id}`;
    const claim = await this.lockout.claim(user.id, now);
    if (!claim.allowed) {
      await this.p.audit.record({ type: AuditType.SECOND_FACTOR, outcome: 'failure', userRef, ...meta, detail: { reason: 'locked' } });
      return { ok: false, reason: 'locked' };
    }

    let secret: Uint8Array | null = null;
    try {
      secret = this.totp.open(user.id, user.totpSecret);
    } catch {
      // Fail closed: a ciphertext that does not open here (tampered, or copied from another row)
      // verifies nothing. The operator needs to know; the client only sees "invalid".
      this.p.logger.error({ authyId: user.id }, 'TOTP secret does not decrypt for this user');
    }
    if (secret && token.length === TOTP_DIGITS) {
      const step = matchTotpStep(secret, token, now, { digits: TOTP_DIGITS, periodInSeconds: TOTP_PERIOD_SECONDS, window: 1 });
      if (step !== null) {
        const inserted = await this.p.db.db
          .insertInto('totp_used_steps')
          .values({ user_id: user.id, step, used_at: now })
          .onConflict((oc) => oc.columns(['user_id', 'step']).doNothing())
          .returning('step')
          .executeTakeFirst();
        if (inserted) {
          // Steps older than the ±1 window can never match again: keep the table bounded.
          await this.p.db.db.deleteFrom('totp_used_steps').where('user_id', '=', user.id).where('step', '<', step - 2).execute();
          return this.succeed(user.id, 'totp', meta);
        }
        await this.fail(user.id, 'totp', 'reused', claim.failuresIfWrong, meta);
        return { ok: false, reason: 'reused' };
      }
    }

    const sms = await this.sms.check(user.id, token, now);
    if (sms === 'valid') return this.succeed(user.id, 'sms', meta);
    // Which factor the failed token was most likely meant for: a live SMS challenge, else TOTP
    // when the user has a secret, else SMS (an expired or used code).
    const kind = sms === 'wrong' || !secret ? 'sms' : 'totp';
    await this.fail(user.id, kind, 'invalid', claim.failuresIfWrong, meta);
    return { ok: false, reason: 'invalid' };
  }

  private async succeed(userId: number, kind: 'totp' | 'sms', meta: RequestMeta): Promise<VerifyOutcome> {
    await this.lockout.succeeded(userId);
    await this.p.audit.record({ type: AuditType.SECOND_FACTOR, outcome: 'success', userRef: `authy:${userId}`, ...meta, detail: { kind } });
    return { ok: true, kind };
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
