import type { Migration } from '../../platform/migrations/helpers.js';
import { bigintType, notNull } from '../../platform/migrations/helpers.js';

/**
 * Browsers whose owner asked not to be asked for the second factor there for 30 days: only the
 * SHA-256 of each browser's token is stored, with where it was made, for the account page.
 */
export const migration: Migration = {
  async up(db, kind) {
    const big = bigintType(kind);
    await db.schema
      .createTable('app_remembered_browsers')
      .addColumn('token_hash', 'text', (c) => c.primaryKey())
      .addColumn('user_id', big, (c) => c.notNull().references('app_users.id').onDelete('cascade'))
      .addColumn('ip', 'text')
      .addColumn('user_agent', 'text')
      .addColumn('created_at', big, notNull)
      .addColumn('last_used_at', big, notNull)
      .addColumn('expires_at', big, notNull)
      .execute();
    await db.schema.createIndex('app_remembered_browsers_user').on('app_remembered_browsers').column('user_id').execute();
  },
};
