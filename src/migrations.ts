import type { Kysely } from 'kysely';
import { appMigrations } from './app/migrations/index.js';
import type { AppTables } from './app/schema.js';
import { sql } from './platform/kysely.js';
import { allMigrations, platformMigrations } from './platform/migrations/index.js';
import type { Migration, MigrationNote } from './platform/migrations/helpers.js';
import type { PlatformTables } from './platform/schema.js';
import { verifyMigrations } from './verify/migrations/index.js';
import type { OneTouchTables } from './verify/schema-onetouch.js';
import type { VerifyTables } from './verify/schema.js';

/** Every context's tables: what the migrations build, and what operators' tools and tests may read. */
export interface SystemDatabase extends PlatformTables, VerifyTables, OneTouchTables, AppTables {}

/**
 * Every table of the system: each context's own migrations (`src/*\/migrations/`), numbered in one
 * sequence because they run against one database, in the order they were written. A number is
 * never reused or renamed: databases record the names they have applied.
 */
export const migrations: Record<string, Migration> = allMigrations(platformMigrations, verifyMigrations, {
  ...appMigrations,
  '009-account-factors': {
    async up(db, kind, note) {
      await splitSharedServiceUsers(db, note);
      await appMigrations['009-account-factors']!.up(db, kind, note);
    },
  },
});

/**
 * Before an `authy_id` could belong to one account only, the service gave the same id to the
 * same phone, so accounts may share one. Nobody can tell which of them enrolled each factor of
 * that service user (a device, an app secret, the shared legacy secret): the factors of another
 * person must not stay on either account, so every factor of a shared service user ends. The
 * oldest account keeps the id (now without factors); the others lose it and their sessions, and
 * get a fresh service user at their next login, after proving the phone by SMS.
 *
 * The one place that reads both contexts' tables: only here can the two sides of a binding be
 * seen together, and it runs once, against the one database both contexts share.
 */
async function splitSharedServiceUsers(db: Kysely<unknown>, note?: MigrationNote): Promise<void> {
  const sharedIds = sql`(select authy_id from app_users where authy_id is not null group by authy_id having count(*) > 1)`;
  const shared = await sql<{ n: number | string }>`
    select count(*) as n from app_users u
    where u.authy_id is not null and exists (
      select 1 from app_users o
      where o.authy_id = u.authy_id and (o.created_at < u.created_at or (o.created_at = u.created_at and o.id < u.id))
    )`.execute(db);
  const split = Number(shared.rows[0]?.n ?? 0);
  let reset = 0;
  if (split > 0) {
    const now = Date.now();
    const affected = await sql<{ id: number | string }>`select id from app_users where authy_id in ${sharedIds}`.execute(db);
    reset = affected.rows.length;
    await sql`update devices set revoked_at = ${now} where revoked_at is null and user_id in ${sharedIds}`.execute(db);
    await sql`delete from push_subscriptions where user_id in ${sharedIds}`.execute(db);
    await sql`delete from device_activations where consumed_at is null and user_id in ${sharedIds}`.execute(db);
    await sql`delete from totp_secrets where user_id in ${sharedIds}`.execute(db);
    await sql`update verify_users set totp_secret = null where id in ${sharedIds}`.execute(db);
    // Each person sees why their authenticators are gone (the account page's recent activity).
    for (const r of affected.rows) {
      await sql`insert into audit_events (at, type, outcome, user_ref, ip, user_agent, detail)
        values (${now}, 'device_revoked', 'info', ${`app-user:${r.id}`}, null, null, ${JSON.stringify({ reason: 'shared_phone_split' })})`.execute(db);
    }
    await sql`
      update app_users set authy_id = null
      where authy_id is not null and exists (
        select 1 from app_users o
        where o.authy_id = app_users.authy_id and (o.created_at < app_users.created_at or (o.created_at = app_users.created_at and o.id < app_users.id))
      )`.execute(db);
    // Their sessions ran on another person's factors: end them.
    await sql`delete from app_sessions where user_id in (select id from app_users where authy_id is null)`.execute(db);
  }
  note?.(
    { split_accounts: split, factors_reset_accounts: reset },
    split > 0 ? 'accounts that shared a service user were split and their factors ended: each proves the phone by SMS at the next login and enrols again' : 'no accounts shared a service user',
  );
}
