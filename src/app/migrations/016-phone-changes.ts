import type { Migration } from '../../platform/migrations/helpers.js';
import { bigintType, notNull } from '../../platform/migrations/helpers.js';

/** A change of an account's phone waiting for the code texted to the new number (one per account). */
export const migration: Migration = {
  async up(db, kind) {
    const big = bigintType(kind);
    await db.schema
      .createTable('app_phone_changes')
      .addColumn('user_id', big, (c) => c.primaryKey().references('app_users.id').onDelete('cascade'))
      .addColumn('country_code', 'text', notNull)
      .addColumn('region', 'text', notNull)
      .addColumn('phone', 'text', notNull)
      .addColumn('e164', 'text', notNull)
      .addColumn('code_tries', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', big, notNull)
      .addColumn('expires_at', big, notNull)
      .execute();
  },
};
