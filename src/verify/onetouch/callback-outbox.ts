import type { Selectable } from 'kysely';
import { sql } from '../../platform/kysely.js';
import type { OneTouchPlatform, OneTouchTables } from '../schema-onetouch.js';

export type OutboxRow = Selectable<OneTouchTables['callback_outbox']>;

/** What one claim may take: `free` rows in all, and per app `perApp` less what it has in flight (`busy`). */
export interface ClaimLimits {
  free: number;
  perApp: number;
  busy: ReadonlyMap<number, number>;
  leaseMs: number;
}

/** Delivered rows are kept this long (to look at), given-up ones longer (to find out why), then deleted. */
export const KEEP_DELIVERED_MS = 7 * 24 * 60 * 60 * 1000;
export const KEEP_GIVEN_UP_MS = 30 * 24 * 60 * 60 * 1000;
/** Rows one purge statement deletes at most (a short lock even on a big table), and statements per sweep. */
export const PURGE_BATCH = 1000;
const PURGE_BATCHES_PER_SWEEP = 10;

/**
 * The apps with undelivered rows, each found by one step of the pending index
 * (`callback_outbox_pending`: app_id, next_attempt_at): as many steps as apps, however many rows
 * an app has queued. SQLite is told the index (without statistics it steps through
 * `callback_outbox_due`, every pending row per app).
 */
function pendingApps(p: OneTouchPlatform) {
  const index = p.db.kind === 'sqlite' ? sql`indexed by callback_outbox_pending` : sql``;
  return sql`
    with recursive apps(app_id) as (
      select min(app_id) from callback_outbox ${index} where delivered_at is null and gave_up_at is null
      union all
      select (select min(o.app_id) from callback_outbox o ${index} where o.delivered_at is null and o.gave_up_at is null and o.app_id > apps.app_id)
      from apps where apps.app_id is not null
    )`;
}

const apps = (busy: ReadonlyMap<number, number>) => [...busy.keys()];
const counts = (busy: ReadonlyMap<number, number>) => [...busy.values()];
const saturated = (l: ClaimLimits) => [...l.busy].filter(([, n]) => n >= l.perApp).map(([a]) => a);

/**
 * Claim due rows under a lease: at most `free`, and of each app at most what its share allows
 * (an app that floods the outbox or whose receiver hangs never takes the other apps' slots).
 */
export function claimDue(p: OneTouchPlatform, l: ClaimLimits): Promise<OutboxRow[]> {
  if (l.free <= 0) return Promise.resolve([]);
  return p.db.kind === 'postgres' ? claimPostgres(p, l) : claimEach(p, l);
}

/**
 * PostgreSQL: one statement. Each app's earliest due rows are locked with SKIP LOCKED (rows another
 * instance is claiming at this moment are skipped, never waited for), then each app keeps what
 * its share allows and the earliest `free` of them get the lease.
 */
async function claimPostgres(p: OneTouchPlatform, l: ClaimLimits): Promise<OutboxRow[]> {
  const now = p.clock.now();
  const { rows } = await sql<OutboxRow>`
    ${pendingApps(p)}, picked as (
      select c.id, c.app_id, c.next_attempt_at from apps cross join lateral (
        select o.id, o.app_id, o.next_attempt_at from callback_outbox o
        where o.app_id = apps.app_id and o.delivered_at is null and o.gave_up_at is null and o.next_attempt_at <= ${now}
          and (o.lease_until is null or o.lease_until <= ${now})
        order by o.next_attempt_at
        limit ${l.perApp}
        for update skip locked
      ) c
      where apps.app_id is not null and apps.app_id <> all(${saturated(l)}::bigint[])
    ), ranked as (
      select id, next_attempt_at, row_number() over (partition by app_id order by next_attempt_at, id) as rn,
        coalesce((select b.n from unnest(${apps(l.busy)}::bigint[], ${counts(l.busy)}::int[]) as b(a, n) where b.a = picked.app_id), 0) as busy
      from picked
    )
    update callback_outbox set lease_until = ${now + l.leaseMs}, attempts = attempts + 1
    where id in (select id from ranked where rn <= ${l.perApp} - busy order by next_attempt_at limit ${l.free})
    returning *`.execute(p.db.db);
  return rows;
}

/** SQLite (one writer at a time): pick each app's share of due rows, then claim each by a conditional update. */
async function claimEach(p: OneTouchPlatform, l: ClaimLimits): Promise<OutboxRow[]> {
  const db = p.db.db;
  const now = p.clock.now();
  const { rows: pending } = await sql<{ app_id: number }>`${pendingApps(p)} select app_id from apps where app_id is not null`.execute(db);
  const picked: { id: number; next_attempt_at: number }[] = [];
  for (const { app_id } of pending) {
    const share = l.perApp - (l.busy.get(Number(app_id)) ?? 0);
    if (share <= 0) continue;
    const rows = await db
      .selectFrom('callback_outbox')
      .select(['id', 'next_attempt_at'])
      .where('app_id', '=', app_id)
      .where('delivered_at', 'is', null)
      .where('gave_up_at', 'is', null)
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', now)]))
      .orderBy('next_attempt_at')
      .limit(share)
      .execute();
    picked.push(...rows);
  }
  picked.sort((a, b) => a.next_attempt_at - b.next_attempt_at || a.id - b.id);
  const claimed: OutboxRow[] = [];
  for (const { id } of picked.slice(0, l.free)) {
    const row = await db
      .updateTable('callback_outbox')
      .set((eb) => ({ lease_until: now + l.leaseMs, attempts: eb('attempts', '+', 1) }))
      .where('id', '=', id)
      .where('delivered_at', 'is', null)
      .where('gave_up_at', 'is', null)
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', now)]))
      .returningAll()
      .executeTakeFirst();
    if (row) claimed.push(row);
  }
  return claimed;
}

/**
 * Delete delivered rows older than 7 days and given-up rows older than 30, at most 1,000 per
 * statement (each a range of `callback_outbox_due`: delivered_at, gave_up_at, …) and 10,000 per
 * sweep. Undelivered rows are never touched. Returns how many were deleted.
 */
export async function purgeOutbox(p: OneTouchPlatform): Promise<number> {
  const now = p.clock.now();
  const skipLocked = p.db.kind === 'postgres' ? sql`for update skip locked` : sql``;
  const old = [
    sql`delivered_at is not null and delivered_at < ${now - KEEP_DELIVERED_MS}`,
    sql`delivered_at is null and gave_up_at is not null and gave_up_at < ${now - KEEP_GIVEN_UP_MS}`,
  ];
  let deleted = 0;
  for (const which of old) {
    for (let i = 0; i < PURGE_BATCHES_PER_SWEEP; i++) {
      const r = await sql`delete from callback_outbox where id in (select id from callback_outbox where ${which} limit ${PURGE_BATCH} ${skipLocked})`.execute(p.db.db);
      const n = Number(r.numAffectedRows ?? 0);
      deleted += n;
      if (n < PURGE_BATCH) break;
    }
  }
  return deleted;
}
