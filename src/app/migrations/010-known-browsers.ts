import type { Migration } from '../../platform/migrations/helpers.js';
import { bigintType, notNull } from '../../platform/migrations/helpers.js';

/**
 * Browsers that completed a login to an account. Password throttling keys a known browser's
 * tries apart from everyone else's, so that guessing from elsewhere cannot lock the owner out.
 * Only the SHA-256 of the browser's cookie token is stored.
 */
export const migration: Migration = {
  async up(db, kind) {
    const big = bigintType(kind);
    await db.schema
      .createTable('app_known_browsers')
      .addColumn('user_id', big, (c) => c.notNull().references('app_users.id').onDelete('cascade'))
      .addColumn('browser_hash', 'text', notNull)
      .addColumn('created_at', big, notNull)
      .addColumn('last_login_at', big, notNull)
      .addPrimaryKeyConstraint('app_known_browsers_pk', ['user_id', 'browser_hash'])
      .execute();
  },
};
