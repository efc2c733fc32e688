import type { Migration } from '../../platform/migrations/helpers.js';
import { bigintType, notNull, withId } from '../../platform/migrations/helpers.js';

/** The web app's recovery codes: keyed hashes only, each redeemed once by a conditional UPDATE. */
export const migration: Migration = {
  async up(db, kind) {
    const big = bigintType(kind);
    await withId(db.schema.createTable('app_recovery_codes'), kind)
      .addColumn('user_id', big, (c) => c.notNull().references('app_users.id').onDelete('cascade'))
      .addColumn('code_hash', 'text', notNull)
      .addColumn('created_at', big, notNull)
      .addColumn('used_at', big)
      .execute();
    // Lookup by (user, hash) on redemption; a set never holds the same code twice.
    await db.schema.createIndex('app_recovery_codes_user_hash').on('app_recovery_codes').columns(['user_id', 'code_hash']).unique().execute();
  },
};
