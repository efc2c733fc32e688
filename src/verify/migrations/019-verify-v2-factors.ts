import type { Migration } from '../../platform/migrations/helpers.js';
import { bigintType, notNull } from '../../platform/migrations/helpers.js';

/** Verify v2 Entities (an app's user), their Factors (TOTP) and Challenges. */
export const migration: Migration = {
  async up(db, kind) {
    const big = bigintType(kind);
    await db.schema
      .createTable('verify_v2_entities')
      .addColumn('sid', 'text', (c) => c.primaryKey())
      .addColumn('service_sid', 'text', (c) => c.notNull().references('verify_v2_services.sid').onDelete('cascade'))
      .addColumn('identity', 'text', notNull)
      .addColumn('created_at', big, notNull)
      .addColumn('updated_at', big, notNull)
      .execute();
    await db.schema.createIndex('verify_v2_entities_identity').on('verify_v2_entities').columns(['service_sid', 'identity']).unique().execute();
    await db.schema
      .createTable('verify_v2_factors')
      .addColumn('sid', 'text', (c) => c.primaryKey())
      .addColumn('entity_sid', 'text', (c) => c.notNull().references('verify_v2_entities.sid').onDelete('cascade'))
      .addColumn('friendly_name', 'text', notNull)
      .addColumn('factor_type', 'text', notNull)
      .addColumn('status', 'text', notNull)
      .addColumn('sealed_secret', 'text', notNull)
      .addColumn('config', 'text', notNull)
      .addColumn('metadata', 'text')
      .addColumn('last_step', big, (c) => c.notNull().defaultTo(-1))
      .addColumn('created_at', big, notNull)
      .addColumn('updated_at', big, notNull)
      .execute();
    await db.schema.createIndex('verify_v2_factors_entity').on('verify_v2_factors').column('entity_sid').execute();
    await db.schema
      .createTable('verify_v2_challenges')
      .addColumn('sid', 'text', (c) => c.primaryKey())
      .addColumn('factor_sid', 'text', (c) => c.notNull().references('verify_v2_factors.sid').onDelete('cascade'))
      .addColumn('status', 'text', notNull)
      .addColumn('responded_reason', 'text', notNull)
      .addColumn('details', 'text', notNull)
      .addColumn('hidden_details', 'text')
      .addColumn('metadata', 'text')
      .addColumn('auth_attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('expires_at', big, notNull)
      .addColumn('responded_at', big)
      .addColumn('created_at', big, notNull)
      .addColumn('updated_at', big, notNull)
      .execute();
    await db.schema.createIndex('verify_v2_challenges_factor').on('verify_v2_challenges').columns(['factor_sid', 'created_at']).execute();
    // The expiry sweep (and every read of a service's challenges) looks for pending ones past their time.
    await db.schema.createIndex('verify_v2_challenges_due').on('verify_v2_challenges').columns(['status', 'expires_at']).execute();
  },
};
