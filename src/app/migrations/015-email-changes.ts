import type { Migration } from '../../platform/migrations/helpers.js';
import { bigintType, notNull } from '../../platform/migrations/helpers.js';

/**
 * A change of an account's email waits for the link mailed to the new address: one per account
 * (a newer request replaces it), only the SHA-256 of the link's token stored.
 */
export const migration: Migration = {
  async up(db, kind) {
    const big = bigintType(kind);
    await db.schema
      .createTable('app_email_changes')
      .addColumn('token_hash', 'text', (c) => c.primaryKey())
      .addColumn('user_id', big, (c) => c.notNull().unique().references('app_users.id').onDelete('cascade'))
      .addColumn('new_email', 'text', notNull)
      .addColumn('created_at', big, notNull)
      .addColumn('expires_at', big, notNull)
      .execute();
  },
};
