import type { Kysely } from 'kysely';
import type { Clock } from '../../platform/clock.js';
import { constantTimeEqual, randomDigits, SecretBox } from '../../platform/crypto.js';
import { isUniqueViolation } from '../../platform/db.js';
import type { CoreDatabase } from '../schema.js';
import { isoDate, newSid, sidPattern, type ServiceRow, type VerificationRow } from './resources.js';

/** A verification lives 10 minutes, as Verify's do. */
export const VERIFICATION_TTL_MS = 10 * 60 * 1000;
/** Checks of one verification (Verify: 5, then 60202). */
export const MAX_CHECKS = 5;

const codeAd = (sid: string) => SecretBox.associatedData('verify_v2_verifications', 'sealed_code', sid);

export type CheckOutcome = { kind: 'approved' | 'wrong'; row: VerificationRow } | { kind: 'max_attempts' } | { kind: 'none' };

/**
 * Verifications: one pending per service and destination (a unique partial index), its code
 * sealed (a resend sends the same code), its checks counted by a conditional UPDATE before the
 * comparison and its approval made by another, so that racing checks approve once.
 */
export class Verifications {
  constructor(
    private readonly db: Kysely<CoreDatabase>,
    private readonly clock: Clock,
    private readonly box: SecretBox,
  ) {}

  /** Mark a verification past its 10 minutes as expired (rows are read as they are stored). */
  private async expireStale(serviceSid: string, to: string): Promise<void> {
    await this.db.updateTable('verify_v2_verifications').set({ status: 'expired' }).where('service_sid', '=', serviceSid).where('to', '=', to).where('status', '=', 'pending').where('expires_at', '<=', this.clock.now()).execute();
  }

  private pending(serviceSid: string, to: string): Promise<VerificationRow | undefined> {
    return this.db.selectFrom('verify_v2_verifications').selectAll().where('service_sid', '=', serviceSid).where('to', '=', to).where('status', '=', 'pending').executeTakeFirst();
  }

  /** The pending verification of `to` (made now when there is none) and its code. */
  async start(service: ServiceRow, to: string, channel: 'sms' | 'email', locale: string | null): Promise<{ row: VerificationRow; code: string }> {
    await this.expireStale(service.sid, to);
    const found = await this.pending(service.sid, to);
    if (found) return { row: found, code: this.box.open(found.sealed_code, codeAd(found.sid)).toString('utf8') };
    const now = this.clock.now();
    const sid = newSid('VE');
    const code = randomDigits(service.code_length);
    const row: VerificationRow = { sid, service_sid: service.sid, to, channel, status: 'pending', sealed_code: this.box.seal(Buffer.from(code), codeAd(sid)), check_attempts: 0, sends: '[]', locale, created_at: now, updated_at: now, expires_at: now + VERIFICATION_TTL_MS };
    try {
      await this.db.insertInto('verify_v2_verifications').values(row).execute();
      return { row, code };
    } catch (e) {
      // Another send made it at the same moment: that one is the pending verification.
      if (!isUniqueViolation(e)) throw e;
      const raced = await this.pending(service.sid, to);
      if (!raced) throw e;
      return { row: raced, code: this.box.open(raced.sealed_code, codeAd(raced.sid)).toString('utf8') };
    }
  }

  /** Add a send to the verification's `send_code_attempts` (on the channel it went by). */
  async recordSend(row: VerificationRow, channel: 'sms' | 'email'): Promise<VerificationRow> {
    const now = this.clock.now();
    const sends = [...(JSON.parse(row.sends) as unknown[]), { attempt_sid: newSid('VL'), channel, time: isoDate(now) }];
    await this.db.updateTable('verify_v2_verifications').set({ sends: JSON.stringify(sends), channel, updated_at: now }).where('sid', '=', row.sid).execute();
    return { ...row, sends: JSON.stringify(sends), channel, updated_at: now };
  }

  /** A verification of the service; one pending past its 10 minutes reads as `expired`. */
  async get(serviceSid: string, sid: string): Promise<VerificationRow | undefined> {
    if (!sidPattern('VE').test(sid)) return undefined;
    const row = await this.db.selectFrom('verify_v2_verifications').selectAll().where('service_sid', '=', serviceSid).where('sid', '=', sid).executeTakeFirst();
    return row && row.status === 'pending' && row.expires_at <= this.clock.now() ? { ...row, status: 'expired' } : row;
  }

  /** The verification a check of `to` is for: the newest one still pending or out of checks. */
  async current(serviceSid: string, to: string): Promise<VerificationRow | undefined> {
    await this.expireStale(serviceSid, to);
    return this.db.selectFrom('verify_v2_verifications').selectAll().where('service_sid', '=', serviceSid).where('to', '=', to).where('status', 'in', ['pending', 'max_attempts_reached']).orderBy('created_at', 'desc').limit(1).executeTakeFirst();
  }

  /**
   * Check `code` against `row`: the try is counted first (a conditional UPDATE, so a burst cannot
   * pass the budget), the 5th wrong one ends the verification, a right one approves it once.
   */
  async check(row: VerificationRow, code: string): Promise<CheckOutcome> {
    const now = this.clock.now();
    if (row.status === 'max_attempts_reached') return { kind: 'max_attempts' };
    const claimed = await this.db
      .updateTable('verify_v2_verifications')
      .set((eb) => ({ check_attempts: eb('check_attempts', '+', 1), updated_at: now }))
      .where('sid', '=', row.sid)
      .where('status', '=', 'pending')
      .where('expires_at', '>', now)
      .where('check_attempts', '<', MAX_CHECKS)
      .returning(['check_attempts', 'sealed_code'])
      .executeTakeFirst();
    if (!claimed) return (await this.get(row.service_sid, row.sid))?.check_attempts === MAX_CHECKS ? { kind: 'max_attempts' } : { kind: 'none' };
    const right = this.box.open(claimed.sealed_code, codeAd(row.sid)).toString('utf8');
    if (constantTimeEqual(right, code)) {
      const approved = await this.setStatus(row.sid, 'approved');
      return approved ? { kind: 'approved', row: approved } : { kind: 'none' };
    }
    const ended = claimed.check_attempts >= MAX_CHECKS ? await this.setStatus(row.sid, 'max_attempts_reached') : undefined;
    return { kind: 'wrong', row: ended ?? { ...row, check_attempts: claimed.check_attempts, updated_at: now } };
  }

  /** pending → `status`, once; the row after, or undefined when it was no longer pending. */
  async setStatus(sid: string, status: 'approved' | 'canceled' | 'max_attempts_reached'): Promise<VerificationRow | undefined> {
    const now = this.clock.now();
    return this.db.updateTable('verify_v2_verifications').set({ status, updated_at: now }).where('sid', '=', sid).where('status', '=', 'pending').where('expires_at', '>', now).returningAll().executeTakeFirst();
  }

  /** Verifications ended more than a day ago are forgotten. */
  async sweep(): Promise<void> {
    await this.db.deleteFrom('verify_v2_verifications').where('expires_at', '<', this.clock.now() - 86_400_000).execute();
  }
}
