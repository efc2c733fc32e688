import { sql } from '../../platform/kysely.js';
import type { Migration } from '../../platform/migrations/helpers.js';
import { bigintType, notNull } from '../../platform/migrations/helpers.js';

/**
 * Each account owns its second factor.
 *
 * - A service user is the triple (app, phone, email): the same phone under another email is another
 *   user with its own factors, so a recycled or shared number never hands one person's factor to
 *   another. Emails are stored lower-cased, so the index compares them as the API does.
 * - Every authenticator (device or third-party app enrolment) has its own TOTP secret, so removing
 *   one ends its codes. `verify_users.totp_secret` stays as the legacy shared secret of users
 *   enrolled before this migration; nothing writes it any more.
 */
export const migration: Migration = {
  async up(db, kind) {
    const big = bigintType(kind);
    await db.schema.dropIndex('verify_users_app_phone').execute();
    await db.schema.createIndex('verify_users_app_phone_email').on('verify_users').columns(['app_id', 'phone_e164', 'email']).unique().execute();

    await db.schema
      .createTable('totp_secrets')
      // Random (not serial) so the sealing's associated data (totp_secrets/sealed/<id>) is known
      // before the row is written.
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user_id', big, (c) => c.notNull().references('verify_users.id').onDelete('cascade'))
      .addColumn('kind', 'text', notNull)
      .addColumn('device_id', 'text', (c) => c.references('devices.id').onDelete('cascade'))
      .addColumn('label', 'text')
      .addColumn('sealed', 'text', notNull)
      .addColumn('state', 'text', notNull)
      .addColumn('created_at', big, notNull)
      .addColumn('confirmed_at', big)
      .addColumn('last_used_at', big)
      .addCheckConstraint('totp_secrets_kind', sql`(kind = 'device' and device_id is not null) or (kind = 'app' and device_id is null)`)
      .addCheckConstraint('totp_secrets_state', sql`state in ('pending', 'active')`)
      .execute();
    // One secret per device: two racing describes of an old device create it once.
    await db.schema.createIndex('totp_secrets_device').on('totp_secrets').column('device_id').unique().execute();
    await db.schema.createIndex('totp_secrets_user').on('totp_secrets').column('user_id').execute();
  },
};
