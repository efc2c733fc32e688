import type { Kysely } from 'kysely';
import type { Clock } from '../platform/clock.js';
import { randomToken, sha256Hex } from '../platform/crypto.js';
import type { AppDatabase } from './schema.js';

/** How long the link to a new address works. */
export const EMAIL_CHANGE_HOURS = 24;

/**
 * Changes of email waiting for the link mailed to the new address. One per account (a newer
 * request replaces it); only the token's SHA-256 is stored; confirming deletes the row, so a link
 * works once.
 */
export class EmailChanges {
  constructor(
    private readonly db: Kysely<AppDatabase>,
    private readonly clock: Clock,
  ) {}

  /** A new link's token for moving the account to `newEmail` (any earlier request ends). */
  async request(userId: number, newEmail: string): Promise<string> {
    const token = randomToken(32);
    const now = this.clock.now();
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('app_email_changes').where('user_id', '=', userId).execute();
      await trx
        .insertInto('app_email_changes')
        .values({ token_hash: sha256Hex(token), user_id: userId, new_email: newEmail, created_at: now, expires_at: now + EMAIL_CHANGE_HOURS * 3_600_000 })
        .execute();
    });
    return token;
  }

  /** Use the link: its account and address, once; undefined when unknown, used or expired. */
  async take(token: string, trx: Kysely<AppDatabase>): Promise<{ userId: number; newEmail: string } | undefined> {
    const row = await trx
      .deleteFrom('app_email_changes')
      .where('token_hash', '=', sha256Hex(token))
      .where('expires_at', '>', this.clock.now())
      .returning(['user_id', 'new_email'])
      .executeTakeFirst();
    return row && { userId: row.user_id, newEmail: row.new_email };
  }

  /** End the account's waiting change (its password changed, or every other session ended). */
  async endFor(userId: number, trx: Kysely<AppDatabase> = this.db): Promise<void> {
    await trx.deleteFrom('app_email_changes').where('user_id', '=', userId).execute();
  }

  async sweep(): Promise<void> {
    await this.db.deleteFrom('app_email_changes').where('expires_at', '<=', this.clock.now()).execute();
  }
}
