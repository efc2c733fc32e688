import type { Kysely } from 'kysely';
import type { DatabaseKind } from '../../platform/db.js';
import type { Migration } from '../../platform/migrations/helpers.js';
import { bigintType, notNull, withId } from '../../platform/migrations/helpers.js';

/** Approval requests, devices, activation links, device nonces, callback outbox. */
export const migration: Migration = {
  async up(db, kind) {
    await approvalRequests(db, kind);
    await devices(db, kind);
    await callbacks(db, kind);
  },
};

async function approvalRequests(db: Kysely<unknown>, kind: DatabaseKind) {
  const big = bigintType(kind);
  // `seq` orders requests for the device event stream (SSE ids); `uuid` is the public id.
  await withId(db.schema.createTable('approval_requests'), kind, 'seq')
    .addColumn('uuid', 'text', (c) => c.notNull().unique())
    .addColumn('app_id', big, (c) => c.notNull().references('apps.id').onDelete('cascade'))
    .addColumn('user_id', big, (c) => c.notNull().references('verify_users.id').onDelete('cascade'))
    .addColumn('message', 'text', notNull)
    .addColumn('details', 'text', notNull)
    .addColumn('hidden_details', 'text', notNull)
    .addColumn('logos', 'text')
    .addColumn('status', 'text', notNull)
    .addColumn('number', 'text')
    // Approve attempts on a number-matching request; capped so 00..99 cannot be guessed.
    .addColumn('number_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('seconds_to_expire', big, notNull)
    .addColumn('created_at', big, notNull)
    .addColumn('updated_at', big, notNull)
    .addColumn('expires_at', big)
    .addColumn('processed_at', big)
    .addColumn('device_id', 'text')
    .addColumn('device_signature', 'text')
    .execute();
  await db.schema.createIndex('approval_requests_user').on('approval_requests').columns(['user_id', 'status', 'seq']).execute();
  await db.schema.createIndex('approval_requests_created').on('approval_requests').columns(['user_id', 'created_at']).execute();
  await db.schema.createIndex('approval_requests_expiry').on('approval_requests').columns(['status', 'expires_at']).execute();
}

async function devices(db: Kysely<unknown>, kind: DatabaseKind) {
  const big = bigintType(kind);
  await db.schema
    .createTable('devices')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', big, (c) => c.notNull().references('verify_users.id').onDelete('cascade'))
    .addColumn('name', 'text', notNull)
    .addColumn('public_key', 'text', notNull)
    .addColumn('created_at', big, notNull)
    .addColumn('last_seen_at', big)
    .addColumn('revoked_at', big)
    .execute();
  await db.schema.createIndex('devices_user').on('devices').columns(['user_id', 'revoked_at']).execute();

  // Activation tokens are stored as SHA-256 only; consumed by a conditional update.
  await db.schema
    .createTable('device_activations')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', big, (c) => c.notNull().references('verify_users.id').onDelete('cascade'))
    .addColumn('name', 'text')
    .addColumn('created_at', big, notNull)
    .addColumn('expires_at', big, notNull)
    .addColumn('consumed_at', big)
    .addColumn('device_id', 'text')
    .execute();

  // The primary key refuses a replayed (device, nonce) even when two requests race.
  await db.schema
    .createTable('device_nonces')
    .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id').onDelete('cascade'))
    .addColumn('nonce', 'text', notNull)
    .addColumn('seen_at', big, notNull)
    .addPrimaryKeyConstraint('device_nonces_pk', ['device_id', 'nonce'])
    .execute();
  await db.schema.createIndex('device_nonces_seen').on('device_nonces').column('seen_at').execute();
}

async function callbacks(db: Kysely<unknown>, kind: DatabaseKind) {
  const big = bigintType(kind);
  // Durable outbox of OneTouch callbacks: written in the transaction that answers the request.
  await withId(db.schema.createTable('callback_outbox'), kind)
    .addColumn('approval_uuid', 'text', (c) => c.notNull().unique())
    .addColumn('app_id', big, (c) => c.notNull().references('apps.id').onDelete('cascade'))
    .addColumn('url', 'text', notNull)
    .addColumn('body', 'text', notNull)
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', big, notNull)
    .addColumn('next_attempt_at', big, notNull)
    .addColumn('lease_until', big)
    .addColumn('delivered_at', big)
    .addColumn('gave_up_at', big)
    .addColumn('last_error', 'text')
    .execute();
  await db.schema.createIndex('callback_outbox_due').on('callback_outbox').columns(['delivered_at', 'gave_up_at', 'next_attempt_at']).execute();

  // The app's API key, sealed (SecretBox, AD app_signing_keys/sealed_key/<app_id>): the
  // callback HMAC needs the key itself, while `apps` keeps only its hash.
  await db.schema
    .createTable('app_signing_keys')
    .addColumn('app_id', big, (c) => c.primaryKey().references('apps.id').onDelete('cascade'))
    .addColumn('sealed_key', 'text', notNull)
    .addColumn('updated_at', big, notNull)
    .execute();
}
