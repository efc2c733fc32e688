import type { Migration } from '../../platform/migrations/helpers.js';
import { bigintType, notNull } from '../../platform/migrations/helpers.js';

/**
 * Verify v2 Webhooks, delivered through the callback outbox beside the OneTouch callbacks: its rows
 * now say which format they are sent in (`authy`: JSON signed as Authy signs; `twilio`: a form
 * signed with X-Twilio-Signature).
 */
export const migration: Migration = {
  async up(db, kind) {
    const big = bigintType(kind);
    await db.schema
      .createTable('verify_v2_webhooks')
      .addColumn('sid', 'text', (c) => c.primaryKey())
      .addColumn('service_sid', 'text', (c) => c.notNull().references('verify_v2_services.sid').onDelete('cascade'))
      .addColumn('friendly_name', 'text', notNull)
      .addColumn('event_types', 'text', notNull)
      .addColumn('webhook_url', 'text', notNull)
      .addColumn('status', 'text', notNull)
      .addColumn('version', 'text', notNull)
      .addColumn('created_at', big, notNull)
      .addColumn('updated_at', big, notNull)
      .execute();
    await db.schema.createIndex('verify_v2_webhooks_service').on('verify_v2_webhooks').column('service_sid').execute();
    await db.schema.alterTable('callback_outbox').addColumn('format', 'text', (c) => c.notNull().defaultTo('authy')).execute();
  },
};
