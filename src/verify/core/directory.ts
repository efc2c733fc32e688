import type { Kysely } from 'kysely';
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

/** The core's answer to OneTouch's questions about users and apps. */
export class Directory implements ServiceDirectory {
  constructor(private readonly p: CorePlatform) {}

  async user(userId: number, appId?: number): Promise<ServiceUser | undefined> {
    let q = this.p.db.db.selectFrom('verify_users').select(['id', 'app_id', 'email']).where('id', '=', userId);
    if (appId !== undefined) q = q.where('app_id', '=', appId);
    const r = await q.executeTakeFirst();
    return r ? { id: r.id, appId: r.app_id, email: r.email } : undefined;
  }

  async apps(ids: readonly number[]): Promise<Map<number, AppInfo>> {
    const wanted = [...new Set(ids)];
    if (wanted.length === 0) return new Map();
    const rows = await this.p.db.db.selectFrom('apps').select(['id', 'name', 'callback_url', 'builtin']).where('id', 'in', wanted).execute();
    return new Map(rows.map((r) => [r.id, { id: r.id, name: r.name, callbackUrl: r.callback_url, builtin: r.builtin === 1 }]));
  }

  async lockUser(trx: Kysely<OneTouchDatabase>, userId: number): Promise<void> {
    if (this.p.db.kind !== 'postgres') return;
    await inSharedTransaction(trx).selectFrom('verify_users').select('id').where('id', '=', userId).forUpdate().executeTakeFirst();
  }
}
