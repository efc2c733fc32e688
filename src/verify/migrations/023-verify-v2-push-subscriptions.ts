import type { Migration } from '../../platform/migrations/helpers.js';
import { bigintType, notNull } from '../../platform/migrations/helpers.js';

/**
 * The Web Push subscription of a Verify v2 push factor's device (a Twofold extension): at most
 * one per factor (the primary key), gone with its factor. Sealed with SecretBox, associated data
 * verify_v2_push_subscriptions/subscription/<factor_sid>: the endpoint is a capability URL and
 * `auth` a shared secret.
 */
export const migration: Migration = {
  async up(db, kind) {
    const big = bigintType(kind);
    await db.schema
      .createTable('verify_v2_push_subscriptions')
      .addColumn('factor_sid', 'text', (c) => c.primaryKey().references('verify_v2_factors.sid').onDelete('cascade'))
      .addColumn('sealed', 'text', notNull)
      .addColumn('created_at', big, notNull)
      .addColumn('updated_at', big, notNull)
      .execute();
  },
};
