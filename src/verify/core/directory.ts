import type { Kysely } from 'kysely';
import { ExpiringMap } from '../../platform/expiring-map.js';
import type { OneTouchDatabase } from '../schema-onetouch.js';
import type { CoreDatabase, CorePlatform } from '../schema.js';
import type { AppInfo, ServiceDirectory, ServiceUser } from '../ports.js';

/**
 * A OneTouch transaction seen with the core's tables: the same connection and transaction (both
 * parts live in the service's database), so what the core writes commits or rolls back with it.
 * Only the core's side of a port uses it.
 */
export function inSharedTransaction(trx: Kysely<OneTouchDatabase>): Kysely<CoreDatabase> {
  return trx as unknown as Kysely<CoreDatabase>;
}

/** Apps change only when an operator registers one or restarts with another name or address. */
const APP_CACHE_MS = 30_000;

/** The core's answer to OneTouch's questions about users and apps. */
export class Directory implements ServiceDirectory {
  private readonly kept: ExpiringMap<number, AppInfo>;

  constructor(private readonly p: CorePlatform) {
    this.kept = new ExpiringMap(p.clock, APP_CACHE_MS);
  }

  async user(userId: number, appId?: number): Promise<ServiceUser | undefined> {
    let q = this.p.db.db.selectFrom('verify_users').select(['id', 'app_id', 'email']).where('id', '=', userId);
    if (appId !== undefined) q = q.where('app_id', '=', appId);
    const r = await q.executeTakeFirst();
    return r ? { id: r.id, appId: r.app_id, email: r.email } : undefined;
  }

  /** Kept for APP_CACHE_MS unless `fresh`: every pending list and push asks for the names. */
  async apps(ids: readonly number[], o: { fresh?: boolean } = {}): Promise<Map<number, AppInfo>> {
    const found = new Map<number, AppInfo>();
    const wanted: number[] = [];
    for (const id of new Set(ids)) {
      const hit = o.fresh ? undefined : this.kept.get(id);
      if (hit) found.set(id, hit);
      else wanted.push(id);
    }
    if (wanted.length === 0) return found;
    const rows = await this.p.db.db.selectFrom('apps').select(['id', 'name', 'callback_url', 'builtin']).where('id', 'in', wanted).execute();
    for (const r of rows) {
      const app = { id: r.id, name: r.name, callbackUrl: r.callback_url, builtin: r.builtin === 1 };
      this.kept.set(r.id, app);
      found.set(r.id, app);
    }
    return found;
  }

  async lockUser(trx: Kysely<OneTouchDatabase>, userId: number): Promise<void> {
    if (this.p.db.kind !== 'postgres') return;
    await inSharedTransaction(trx).selectFrom('verify_users').select('id').where('id', '=', userId).forUpdate().executeTakeFirst();
  }
}
