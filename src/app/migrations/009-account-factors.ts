import { sql } from 'kysely';
import type { Migration } from './helpers.js';
import { bigintType, notNull } from './helpers.js';

/**
 * Each web app account owns its second factor.
 * - Signups wait in `app_pending_signups` until the phone is proved with a code: no user row
 *   exists before that.
 * - Sessions remember when the password and a second factor were last proved (`reauth_at`), for
 *   the step-up that guards every factor change.
 * - An `authy_id` belongs to one account: where accounts already share one (the service used to
 *   give the same id to the same phone), every factor of that service user ends (no one can tell
 *   whose they were), the oldest account keeps the id and the others lose it; they get a fresh
 *   service user at their next login, after proving the phone by SMS. A unique index then refuses
 *   any second binding. This data migration reaches into the service's tables: both contexts share
 *   one database, and only here can the two sides of a shared binding be seen together.
 */
export const migration: Migration = {
  async up(db, kind, note) {
    const big = bigintType(kind);
    await db.schema
      .createTable('app_pending_signups')
      .addColumn('token_hash', 'text', (c) => c.primaryKey())
      .addColumn('email', 'text', notNull)
      .addColumn('full_name', 'text', notNull)
      .addColumn('password_hash', 'text', notNull)
      .addColumn('country_code', 'text', notNull)
      .addColumn('region', 'text', notNull)
      .addColumn('phone', 'text', notNull)
      .addColumn('e164', 'text', notNull)
      .addColumn('code_tries', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('last_sent_at', big)
      .addColumn('created_at', big, notNull)
      .addColumn('expires_at', big, notNull)
      .execute();
    await db.schema.createIndex('app_pending_signups_expiry').on('app_pending_signups').column('expires_at').execute();

    await db.schema.alterTable('app_sessions').addColumn('reauth_at', big).execute();

    // Accounts that share a service user. Nobody can tell which of them enrolled each factor of
    // that user (a device, an app secret, the shared legacy secret): the factors of another person
    // must not stay on either account, so every factor of a shared service user is ended.
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
      // The oldest account keeps the service user (now without factors); the others lose it and
      // get a fresh one at their next login.
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
    await db.schema.createIndex('app_users_authy_id').on('app_users').column('authy_id').unique().execute();
  },
};
