import type { Migration } from '../../platform/migrations/helpers.js';
import { sql } from '../../platform/kysely.js';

/**
 * The callback outbox's undelivered rows by app, earliest first: the delivery worker steps from
 * app to app through it and takes each app's share of due rows (one app's backlog never fills a
 * claim), in as many index steps as apps. Delivered and given-up rows leave it, so it stays small.
 * The purge of old rows uses `callback_outbox_due` (delivered_at, gave_up_at, next_attempt_at).
 */
export const migration: Migration = {
  async up(db) {
    await db.schema
      .createIndex('callback_outbox_pending')
      .on('callback_outbox')
      .columns(['app_id', 'next_attempt_at'])
      .where(sql.ref('delivered_at'), 'is', null)
      .where(sql.ref('gave_up_at'), 'is', null)
      .execute();
  },
};
