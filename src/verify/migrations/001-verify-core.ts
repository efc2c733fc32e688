import type { CreateTableBuilder } from 'kysely';
import type { Migration } from '../../platform/migrations/helpers.js';
import { bigintType, notNull, withId } from '../../platform/migrations/helpers.js';

/** Applications, users, TOTP steps, SMS challenges and phone verifications. */
export const migration: Migration = {
  async up(db, kind) {
    const big = bigintType(kind);
    await withId(db.schema.createTable('apps'), kind)
      .addColumn('name', 'text', notNull)
      .addColumn('api_key_hash', 'text', (c) => c.notNull().unique())
      .addColumn('callback_url', 'text')
      .addColumn('builtin', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', big, notNull)
      .execute();

    await withId(db.schema.createTable('verify_users'), kind)
      .addColumn('app_id', big, (c) => c.notNull().references('apps.id').onDelete('cascade'))
      .addColumn('email', 'text', notNull)
      .addColumn('country_code', 'text', notNull)
      .addColumn('region', 'text', notNull)
      .addColumn('phone_e164', 'text', notNull)
      .addColumn('totp_secret', 'text')
      .addColumn('failed_verifications', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('locked_until', big)
      .addColumn('created_at', big, notNull)
      .execute();
    // Same phone + country code registered again by the same app → the same id (docs/authy-compat.md).
    await db.schema.createIndex('verify_users_app_phone').on('verify_users').columns(['app_id', 'phone_e164']).unique().execute();

    // RFC 6238 §5.2: a code must be accepted at most once. The primary key refuses a replay
    // even when two verifications race.
    await db.schema
      .createTable('totp_used_steps')
      .addColumn('user_id', big, (c) => c.notNull().references('verify_users.id').onDelete('cascade'))
      .addColumn('step', big, notNull)
      .addColumn('used_at', big, notNull)
      .addPrimaryKeyConstraint('totp_used_steps_pk', ['user_id', 'step'])
      .execute();

    await withId(db.schema.createTable('sms_codes'), kind)
      .addColumn('user_id', big, (c) => c.notNull().references('verify_users.id').onDelete('cascade'))
      .$call((t) => challengeColumns(t, big))
      .execute();
    // One current challenge per user: a resend updates it in place (same attempt budget and
    // expiry), so parallel sends cannot create a second challenge with a fresh budget.
    await db.schema.createIndex('sms_codes_user').on('sms_codes').column('user_id').unique().execute();

    await db.schema
      .createTable('phone_verifications')
      .addColumn('uuid', 'text', (c) => c.primaryKey())
      .addColumn('app_id', big, (c) => c.notNull().references('apps.id').onDelete('cascade'))
      .addColumn('phone_e164', 'text', notNull)
      .$call((t) => challengeColumns(t, big))
      .execute();
    await db.schema.createIndex('phone_verifications_phone').on('phone_verifications').columns(['app_id', 'phone_e164']).unique().execute();
  },
};

/** The columns of a hashed one-time code and its budget (SMS codes and phone verifications alike). */
function challengeColumns<T extends string, C extends string>(t: CreateTableBuilder<T, C>, big: 'bigint' | 'integer') {
  return t
    .addColumn('code_hash', 'text', notNull)
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('max_attempts', 'integer', notNull)
    .addColumn('created_at', big, notNull)
    .addColumn('expires_at', big, notNull)
    .addColumn('consumed_at', big);
}
