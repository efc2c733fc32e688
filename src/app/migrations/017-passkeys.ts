import type { Migration } from '../../platform/migrations/helpers.js';
import { bigintType, notNull } from '../../platform/migrations/helpers.js';

/**
 * Passkeys (WebAuthn credentials) of the accounts, each account's WebAuthn user handle, the
 * challenges waiting for an answer, and which factor opened a login attempt.
 */
export const migration: Migration = {
  async up(db, kind) {
    const big = bigintType(kind);
    await db.schema
      .createTable('app_passkey_handles')
      .addColumn('user_id', big, (c) => c.primaryKey().references('app_users.id').onDelete('cascade'))
      .addColumn('handle', 'text', (c) => c.notNull().unique())
      .execute();
    await db.schema
      .createTable('app_passkeys')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user_id', big, (c) => c.notNull().references('app_users.id').onDelete('cascade'))
      // Unique across accounts: one authenticator's credential belongs to one account.
      .addColumn('credential_id', 'text', (c) => c.notNull().unique())
      .addColumn('public_key', 'text', notNull)
      .addColumn('counter', big, notNull)
      .addColumn('transports', 'text', notNull)
      .addColumn('device_type', 'text', notNull)
      .addColumn('backed_up', 'integer', notNull)
      .addColumn('uv_initialized', 'integer', notNull)
      .addColumn('name', 'text', notNull)
      .addColumn('created_at', big, notNull)
      .addColumn('last_used_at', big)
      .addColumn('cloned_at', big)
      .execute();
    await db.schema.createIndex('app_passkeys_user').on('app_passkeys').column('user_id').execute();
    await db.schema
      .createTable('app_webauthn_challenges')
      .addColumn('challenge_hash', 'text', (c) => c.primaryKey())
      .addColumn('purpose', 'text', notNull)
      .addColumn('binding_hash', 'text', notNull)
      .addColumn('user_id', big)
      .addColumn('attempt_id', 'text')
      .addColumn('created_at', big, notNull)
      .addColumn('expires_at', big, notNull)
      .execute();
    await db.schema.createIndex('app_webauthn_challenges_binding').on('app_webauthn_challenges').columns(['binding_hash', 'purpose']).execute();
    await db.schema.alterTable('app_login_attempts').addColumn('first_factor', 'text', (c) => c.notNull().defaultTo('password')).execute();
    // The passkey a session was signed in with (no password): removing the passkey ends it.
    await db.schema.alterTable('app_sessions').addColumn('passkey_id', 'text').execute();
  },
};
