import type { Migration } from '../../platform/migrations/helpers.js';
import { bigintType, notNull } from '../../platform/migrations/helpers.js';

/**
 * Each web app account owns its second factor.
 * - Signups wait in `app_pending_signups` until the phone is proved with a code: no user row
 *   exists before that.
 * - Sessions remember when the password and a second factor were last proved (`reauth_at`), for
 *   the step-up that guards every factor change.
 * - An `authy_id` belongs to one account: a unique index refuses any second binding.
 */
export const migration: Migration = {
  async up(db, kind) {
    const big = bigintType(kind);
    await db.schema
      .createTable('app_pending_signups')
      .addColumn('token_hash', 'text', (c) => c.primaryKey())
      .addColumn('email', 'text', notNull)
      .addColumn('full_name', 'text', notNull)
      .addColumn('password_hash', 'text', notNull)
      .addColumn('country_code', 'text', notNull)
      .addColumn('region', 'text', notNull)
      .addColumn('phone', 'text', notNull)
      .addColumn('e164', 'text', notNull)
      .addColumn('code_tries', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('last_sent_at', big)
      .addColumn('created_at', big, notNull)
      .addColumn('expires_at', big, notNull)
      .execute();
    await db.schema.createIndex('app_pending_signups_expiry').on('app_pending_signups').column('expires_at').execute();

    await db.schema.alterTable('app_sessions').addColumn('reauth_at', big).execute();

    // One account per service user (accounts that shared one were split just before: `src/migrations.ts`).
    await db.schema.createIndex('app_users_authy_id').on('app_users').column('authy_id').unique().execute();
  },
};
