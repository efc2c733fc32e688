import type { Kysely } from 'kysely';
import type { Clock } from '../platform/clock.js';
import { randomToken, sha256Hex } from '../platform/crypto.js';
import { prepared } from '../platform/prepared-query.js';
import type { AppDatabase } from './schema.js';

/** How long a reset link works. */
export const RESET_LINK_MINUTES = 30;

/**
 * Password reset links. Only each token's SHA-256 is stored; an account has at most one live
 * link (a new one replaces it); redeeming deletes the row, so a link works once even when two
 * requests carry it at the same moment.
 */
export class PasswordResets {
  constructor(
    private readonly db: Kysely<AppDatabase>,
    private readonly clock: Clock,
  ) {}

  /** A new link's token for the account (shown once, in the email); any earlier link ends. */
  async issue(userId: number): Promise<string> {
    const token = randomToken(32);
    const now = this.clock.now();
    await this.db.transaction().execute(async (trx) => {
      await endResets(trx, { userId });
      await trx
        .insertInto('app_password_resets')
        .values({ token_hash: sha256Hex(token), user_id: userId, created_at: now, expires_at: now + RESET_LINK_MINUTES * 60_000 })
        .execute();
    });
    return token;
  }

  /**
   * The account a live link is for, or undefined (unknown, expired or used): a cheap check before
   * the password is hashed.
   */
  async liveOwner(token: string): Promise<number | undefined> {
    const row = await this.db.selectFrom('app_password_resets').select(['user_id', 'expires_at']).where('token_hash', '=', sha256Hex(token)).executeTakeFirst();
    return row !== undefined && row.expires_at > this.clock.now() ? row.user_id : undefined;
  }

  /** Use the link: its account, once; undefined when it is unknown, expired or already used. */
  async redeem(token: string, trx: Kysely<AppDatabase>): Promise<number | undefined> {
    const row = await trx
      .deleteFrom('app_password_resets')
      .where('token_hash', '=', sha256Hex(token))
      .where('expires_at', '>', this.clock.now())
      .returning('user_id')
      .executeTakeFirst();
    return row?.user_id;
  }

  /** End the account's links (it logged in, or its password was reset). */
  async endFor(userId: number, trx: Kysely<AppDatabase> = this.db): Promise<void> {
    await endResets(trx, { userId });
  }

  async sweep(): Promise<void> {
    await this.db.deleteFrom('app_password_resets').where('expires_at', '<=', this.clock.now()).execute();
  }
}

// Every complete login ends the account's reset links: compiled once (src/platform/prepared-query.ts).
const endResets = prepared<AppDatabase, unknown, { userId: number }>((db, slot) => db.deleteFrom('app_password_resets').where('user_id', '=', slot('userId')));
