import type { Migration } from '../../platform/migrations/helpers.js';
import { bigintType, notNull } from '../../platform/migrations/helpers.js';

/**
 * Password reset links: only the SHA-256 of each link's token is stored. The row is the link's
 * single use: redeeming it deletes it, so two requests with one link cannot both succeed.
 */
export const migration: Migration = {
  async up(db, kind) {
    const big = bigintType(kind);
    await db.schema
      .createTable('app_password_resets')
      .addColumn('token_hash', 'text', (c) => c.primaryKey())
      .addColumn('user_id', big, (c) => c.notNull().references('app_users.id').onDelete('cascade'))
      .addColumn('created_at', big, notNull)
      .addColumn('expires_at', big, notNull)
      .execute();
    await db.schema.createIndex('app_password_resets_user').on('app_password_resets').column('user_id').execute();
  },
};
