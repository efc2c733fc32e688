import type { Kysely } from 'kysely';
import type { CodeHasher } from '../../platform/crypto.js';
import { randomDigits } from '../../platform/crypto.js';
import type { CoreDatabase } from '../schema.js';
import { ChallengeStore } from './challenges.js';

export const SMS_CODE_DIGITS = 6;
export const SMS_CODE_TTL_MS = 10 * 60 * 1000;

export type IssueResult = { ok: true; code: string; expiresAt: number } | { ok: false; reason: 'attempts_exhausted'; expiresAt: number };
export type CheckResult = 'valid' | 'wrong' | 'none';

/**
 * SMS codes: one current challenge per user (unique index on user_id). Codes are 6 random digits,
 * stored only as a keyed hash, valid 10 minutes, with an attempt budget (the rules of
 * ChallengeStore).
 */
export class SmsCodes {
  private readonly store: ChallengeStore;

  constructor(db: Kysely<CoreDatabase>, hasher: CodeHasher, maxAttempts: number) {
    this.store = new ChallengeStore(db, hasher, maxAttempts, { table: 'sms_codes', subject: ['user_id'], id: 'id' });
  }

  private purpose(userId: number): string {
    return `sms:${userId}`;
  }

  /** A new code for the user; while the current challenge lives, a resend keeps its budget and expiry. */
  async issue(userId: number, now: number): Promise<IssueResult> {
    const code = randomDigits(SMS_CODE_DIGITS);
    const r = await this.store.issue({ user_id: userId }, this.purpose(userId), code, SMS_CODE_TTL_MS, now);
    return r.ok ? { ok: true, code, expiresAt: r.expiresAt } : r;
  }

  /** Check a code: the try is counted before comparing, and a match is consumed once. */
  check(userId: number, code: string, now: number, q?: Kysely<CoreDatabase>): Promise<CheckResult> {
    return this.store.check({ user_id: userId }, this.purpose(userId), code, now, q);
  }
}
