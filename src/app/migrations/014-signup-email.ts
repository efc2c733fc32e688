import type { Migration } from '../../platform/migrations/helpers.js';
import { bigintType } from '../../platform/migrations/helpers.js';

/**
 * Signup proves the email after the phone: a pending signup whose phone code was right waits for
 * the link mailed to its address (only the SHA-256 of the link's token is stored; unique, so a
 * link names one signup).
 */
export const migration: Migration = {
  async up(db, kind) {
    await db.schema.alterTable('app_pending_signups').addColumn('phone_verified_at', bigintType(kind)).execute();
    await db.schema.alterTable('app_pending_signups').addColumn('email_token_hash', 'text').execute();
    await db.schema.createIndex('app_pending_signups_email_token').on('app_pending_signups').column('email_token_hash').unique().execute();
  },
};
