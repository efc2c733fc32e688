import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { sql } from '../../platform/kysely.js';
import type { Migration } from '../../platform/migrations/helpers.js';
import { bigintType, notNull } from '../../platform/migrations/helpers.js';

/** A Twilio-style Account SID: `AC` and 32 lower-case hex digits. */
export const newAccountSid = (): string => `AC${randomBytes(16).toString('hex')}`;

/**
 * The Verify v2-compatible API: each app's Account SID (its user name in HTTP Basic), Verify
 * Services, and Verifications (a code sent by SMS or email, checked once).
 */
export const migration: Migration = {
  async up(db, kind) {
    const big = bigintType(kind);
    await db.schema.alterTable('apps').addColumn('account_sid', 'text').execute();
    const apps = db as Kysely<{ apps: { id: number; account_sid: string | null } }>;
    for (const a of await apps.selectFrom('apps').select('id').execute()) {
      await apps.updateTable('apps').set({ account_sid: newAccountSid() }).where('id', '=', a.id).execute();
    }
    await db.schema.createIndex('apps_account_sid').on('apps').column('account_sid').unique().execute();
    await db.schema
      .createTable('verify_v2_services')
      .addColumn('sid', 'text', (c) => c.primaryKey())
      .addColumn('app_id', big, (c) => c.notNull().references('apps.id').onDelete('cascade'))
      .addColumn('friendly_name', 'text', notNull)
      .addColumn('code_length', 'integer', notNull)
      .addColumn('do_not_share_warning_enabled', 'integer', notNull)
      .addColumn('skip_sms_to_landlines', 'integer', notNull)
      .addColumn('lookup_enabled', 'integer', notNull)
      .addColumn('created_at', big, notNull)
      .addColumn('updated_at', big, notNull)
      .execute();
    await db.schema.createIndex('verify_v2_services_app').on('verify_v2_services').columns(['app_id', 'created_at']).execute();
    await db.schema
      .createTable('verify_v2_verifications')
      .addColumn('sid', 'text', (c) => c.primaryKey())
      .addColumn('service_sid', 'text', (c) => c.notNull().references('verify_v2_services.sid').onDelete('cascade'))
      .addColumn('to', 'text', notNull)
      .addColumn('channel', 'text', notNull)
      .addColumn('status', 'text', notNull)
      .addColumn('sealed_code', 'text', notNull)
      .addColumn('check_attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('sends', 'text', notNull)
      .addColumn('locale', 'text')
      .addColumn('created_at', big, notNull)
      .addColumn('updated_at', big, notNull)
      .addColumn('expires_at', big, notNull)
      .execute();
    // One pending verification per service and destination: a second send reuses it (same code).
    await db.schema
      .createIndex('verify_v2_verifications_pending')
      .on('verify_v2_verifications')
      .columns(['service_sid', 'to'])
      .unique()
      .where(sql.ref('status'), '=', 'pending')
      .execute();
    await db.schema.createIndex('verify_v2_verifications_to').on('verify_v2_verifications').columns(['service_sid', 'to', 'created_at']).execute();
  },
};
