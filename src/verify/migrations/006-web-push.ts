import type { Migration } from '../../platform/migrations/helpers.js';
import { bigintType, notNull } from '../../platform/migrations/helpers.js';

/** Web Push subscriptions of authenticator devices: at most one per device. */
export const migration: Migration = {
  async up(db, kind) {
    const big = bigintType(kind);
    // The subscription (endpoint and keys) is sealed with SecretBox, associated data
    // push_subscriptions/subscription/<device_id>: the endpoint is a capability URL and `auth`
    // a shared secret. The primary key makes "one subscription per device" hold under races.
    await db.schema
      .createTable('push_subscriptions')
      .addColumn('device_id', 'text', (c) => c.primaryKey().references('devices.id').onDelete('cascade'))
      .addColumn('user_id', big, (c) => c.notNull().references('verify_users.id').onDelete('cascade'))
      .addColumn('sealed', 'text', notNull)
      .addColumn('created_at', big, notNull)
      .addColumn('updated_at', big, notNull)
      .execute();
    await db.schema.createIndex('push_subscriptions_user').on('push_subscriptions').column('user_id').execute();
  },
};
