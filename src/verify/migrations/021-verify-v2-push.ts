import type { Migration } from '../../platform/migrations/helpers.js';
import { bigintType, notNull } from '../../platform/migrations/helpers.js';

/**
 * Verify v2 push factors: the access tokens a device creates its factor with (stored hashed,
 * single use), the factor's public key, and the nonces of the factor-signed requests.
 */
export const migration: Migration = {
  async up(db, kind) {
    const big = bigintType(kind);
    await db.schema
      .createTable('verify_v2_access_tokens')
      .addColumn('sid', 'text', (c) => c.primaryKey())
      .addColumn('service_sid', 'text', (c) => c.notNull().references('verify_v2_services.sid').onDelete('cascade'))
      .addColumn('identity', 'text', notNull)
      .addColumn('factor_type', 'text', notNull)
      .addColumn('factor_friendly_name', 'text')
      .addColumn('token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('ttl', 'integer', notNull)
      .addColumn('expires_at', big, notNull)
      .addColumn('consumed_at', big)
      .addColumn('factor_sid', 'text')
      .addColumn('created_at', big, notNull)
      .execute();
    await db.schema.createIndex('verify_v2_access_tokens_expiry').on('verify_v2_access_tokens').column('expires_at').execute();
    // A push factor's key: base64 SPKI DER of a P-256 public key (null for TOTP factors).
    await db.schema.alterTable('verify_v2_factors').addColumn('public_key', 'text').execute();
    // The primary key refuses a replayed (factor, nonce) even when both copies race.
    await db.schema
      .createTable('verify_v2_push_nonces')
      .addColumn('factor_sid', 'text', (c) => c.notNull().references('verify_v2_factors.sid').onDelete('cascade'))
      .addColumn('nonce', 'text', notNull)
      .addColumn('seen_at', big, notNull)
      .addPrimaryKeyConstraint('verify_v2_push_nonces_pk', ['factor_sid', 'nonce'])
      .execute();
    await db.schema.createIndex('verify_v2_push_nonces_seen').on('verify_v2_push_nonces').column('seen_at').execute();
  },
};
