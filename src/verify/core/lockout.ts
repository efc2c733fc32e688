import type { Kysely } from 'kysely';
import { sql } from '../../platform/kysely.js';
import { firstRow, prepared } from '../../platform/prepared-query.js';
import type { CoreDatabase } from '../schema.js';

/** After this many consecutive failures the user stays locked until an operator resets the counter. */
export const PERMANENT_LOCK_FAILURES = 100;

export interface LockoutPolicy {
  /** Consecutive failures that lock the user (OTP_LOCKOUT_THRESHOLD). */
  threshold: number;
  /** How long a lock lasts, in seconds (OTP_LOCKOUT_SECONDS). */
  lockSeconds: number;
}

export type AttemptClaim = { allowed: false } | { allowed: true; failuresIfWrong: number };

/**
 * Account-wide second-factor lockout, across challenges and factors (TOTP and SMS).
 *
 * Each verification first claims an attempt with one conditional UPDATE that counts it as a
 * failure in advance (and sets the lock when the count reaches the threshold); a success then
 * resets the counter. Counting before comparing means a burst of parallel guesses can never get
 * more than `threshold` comparisons, whatever the interleaving.
 */
export class SecondFactorLockout {
  constructor(
    private readonly db: Kysely<CoreDatabase>,
    private readonly policy: LockoutPolicy,
  ) {}

  async claim(userId: number, now: number, q: Kysely<CoreDatabase> = this.db): Promise<AttemptClaim> {
    const row = await firstRow(claimTry(q, { userId, now, lockUntil: now + this.policy.lockSeconds * 1000, threshold: this.policy.threshold }));
    return row ? { allowed: true, failuresIfWrong: row.failed_verifications } : { allowed: false };
  }

  async succeeded(userId: number, q: Kysely<CoreDatabase> = this.db): Promise<void> {
    await clearFailures(q, { userId });
  }

  /** True when a failure with this count locked the user (the claim already stored the lock). */
  locksAt(failures: number): boolean {
    return failures >= this.policy.threshold;
  }

  /** Operator action: clear a user's failure count and lock. */
  async reset(userId: number): Promise<boolean> {
    const r = await this.db.updateTable('verify_users').set({ failed_verifications: 0, locked_until: null }).where('id', '=', userId).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
}

/** Count a try in advance, unless the user is locked (the lock set when the count reaches the threshold). */
const claimTry = prepared<CoreDatabase, { failed_verifications: number }, { userId: number; now: number; lockUntil: number; threshold: number }>((db, slot) =>
  db
    .updateTable('verify_users')
    .set({
      failed_verifications: sql<number>`failed_verifications + 1`,
      locked_until: sql<number | null>`CASE WHEN failed_verifications + 1 >= ${slot('threshold')} THEN ${slot('lockUntil')} ELSE locked_until END`,
    })
    .where('id', '=', slot('userId'))
    .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', slot('now'))]))
    .where('failed_verifications', '<', PERMANENT_LOCK_FAILURES)
    .returning('failed_verifications'),
);

const clearFailures = prepared<CoreDatabase, unknown, { userId: number }>((db, slot) =>
  db.updateTable('verify_users').set({ failed_verifications: 0, locked_until: null }).where('id', '=', slot('userId')),
);
