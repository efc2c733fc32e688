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

/**
 * A try let through or not. `written`: the try is already counted (`claim`); otherwise
 * (`inspect`) the outcome writes it, and `clean` says there is nothing for a success to clear.
 */
export type AttemptClaim = { allowed: false } | AllowedClaim;
export interface AllowedClaim {
  allowed: true;
  /** The count a wrong try makes (the lock comes at the threshold). */
  failuresIfWrong: number;
  written: boolean;
  clean: boolean;
}

/**
 * Account-wide second-factor lockout, across challenges and factors (TOTP and SMS).
 *
 * Each verification first claims an attempt with one conditional UPDATE that counts it as a
 * failure in advance (and sets the lock when the count reaches the threshold); a success then
 * resets the counter. Counting before comparing means a burst of parallel guesses can never get
 * more than `threshold` comparisons, whatever the interleaving. Where one transaction holds the
 * database's only writer from before the comparison to after the outcome (SQLite), `inspect`
 * reads the same decision and the outcome writes the count: the guesses are then one after
 * another, and the bound is the same.
 */
export class SecondFactorLockout {
  constructor(
    private readonly db: Kysely<CoreDatabase>,
    private readonly policy: LockoutPolicy,
  ) {}

  async claim(userId: number, now: number, q: Kysely<CoreDatabase> = this.db): Promise<AttemptClaim> {
    const row = await this.countTry(q, userId, now);
    return row ? { allowed: true, failuresIfWrong: row.failed_verifications, written: true, clean: false } : { allowed: false };
  }

  /**
   * The claim's decision without its write, for a transaction that holds the database's only
   * writer until the outcome is written (SQLite): no other try can come between this read and
   * `failed` or `succeeded`, so the count is the same as `claim`'s, and a right code of a user
   * with no failures writes nothing here.
   */
  async inspect(userId: number, now: number, trx: Kysely<CoreDatabase>): Promise<AttemptClaim> {
    const row = await firstRow(lockState(trx, { userId }));
    if (!row || (row.locked_until !== null && row.locked_until > now) || row.failed_verifications >= PERMANENT_LOCK_FAILURES) return { allowed: false };
    return { allowed: true, failuresIfWrong: row.failed_verifications + 1, written: false, clean: row.failed_verifications === 0 && row.locked_until === null };
  }

  /** A wrong try: counted now when its claim was only inspected (and the lock set at the threshold). */
  async failed(userId: number, claim: AllowedClaim, now: number, trx: Kysely<CoreDatabase>): Promise<void> {
    if (claim.written) return;
    const row = await this.countTry(trx, userId, now);
    if (row?.failed_verifications !== claim.failuresIfWrong) throw new Error('the second-factor count changed within its transaction');
  }

  /** The try counted, the lock set at the threshold; undefined when the user is locked. */
  private countTry(q: Kysely<CoreDatabase>, userId: number, now: number): Promise<{ failed_verifications: number } | undefined> {
    return firstRow(claimTry(q, { userId, now, lockUntil: now + this.policy.lockSeconds * 1000, threshold: this.policy.threshold }));
  }

  /** A right try: the consecutive failures end (nothing to write after an inspection that found none). */
  async succeeded(userId: number, q: Kysely<CoreDatabase> = this.db, claim?: AllowedClaim): Promise<void> {
    if (claim && !claim.written && claim.clean) return;
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

const lockState = prepared<CoreDatabase, { failed_verifications: number; locked_until: number | null }, { userId: number }>((db, slot) =>
  db.selectFrom('verify_users').select(['failed_verifications', 'locked_until']).where('id', '=', slot('userId')),
);

const clearFailures = prepared<CoreDatabase, unknown, { userId: number }>((db, slot) =>
  db.updateTable('verify_users').set({ failed_verifications: 0, locked_until: null }).where('id', '=', slot('userId')),
);
