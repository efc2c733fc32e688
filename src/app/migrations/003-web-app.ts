import type { Migration } from '../../platform/migrations/helpers.js';
import { bigintType, notNull, withId } from '../../platform/migrations/helpers.js';

/** The web app's users, sessions, login attempts and callback nonces. */
export const migration: Migration = {
  async up(db, kind) {
    const big = bigintType(kind);
    await withId(db.schema.createTable('app_users'), kind)
      .addColumn('email', 'text', (c) => c.notNull().unique())
      .addColumn('full_name', 'text', notNull)
      .addColumn('password_hash', 'text', notNull)
      .addColumn('country_code', 'text', notNull)
      .addColumn('region', 'text', notNull)
      .addColumn('phone', 'text', notNull)
      .addColumn('authy_id', big)
      .addColumn('totp_app_confirmed_at', big)
      .addColumn('created_at', big, notNull)
      .execute();

    await db.schema
      .createTable('app_login_attempts')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user_id', big, (c) => c.notNull().references('app_users.id').onDelete('cascade'))
      .addColumn('state', 'text', (c) => c.notNull().defaultTo('open'))
      .addColumn('approval_uuid', 'text', (c) => c.unique())
      .addColumn('approval_number', 'text')
      .addColumn('approval_status', 'text')
      .addColumn('approval_expires_at', big)
      .addColumn('approval_details', 'text')
      .addColumn('code_tries', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('last_sms_at', big)
      .addColumn('created_at', big, notNull)
      .addColumn('expires_at', big, notNull)
      .execute();
    await db.schema.createIndex('app_login_attempts_user').on('app_login_attempts').columns(['user_id', 'created_at']).execute();

    await db.schema
      .createTable('app_sessions')
      .addColumn('token_hash', 'text', (c) => c.primaryKey())
      .addColumn('user_id', big, (c) => c.notNull().references('app_users.id').onDelete('cascade'))
      .addColumn('state', 'text', notNull)
      .addColumn('login_attempt_id', 'text', (c) => c.references('app_login_attempts.id').onDelete('cascade'))
      .addColumn('created_at', big, notNull)
      .addColumn('last_seen_at', big, notNull)
      .addColumn('expires_at', big, notNull)
      .execute();
    await db.schema.createIndex('app_sessions_user').on('app_sessions').column('user_id').execute();

    // A replayed callback (same nonce and signature) hits the primary key and is refused.
    await db.schema
      .createTable('app_callback_nonces')
      .addColumn('nonce', 'text', notNull)
      .addColumn('signature_hash', 'text', notNull)
      .addColumn('seen_at', big, notNull)
      .addPrimaryKeyConstraint('app_callback_nonces_pk', ['nonce', 'signature_hash'])
      .execute();
    await db.schema.createIndex('app_callback_nonces_seen').on('app_callback_nonces').column('seen_at').execute();
  },
};
