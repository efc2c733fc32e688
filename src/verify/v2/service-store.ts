import type { Request } from 'express';
import type { Kysely } from 'kysely';
import type { Clock } from '../../platform/clock.js';
import type { CoreDatabase } from '../schema.js';
import { notFound } from './errors.js';
import { newSid, sidPattern, type ServiceRow } from './resources.js';

/** What a create or update may change. */
export type Settings = Partial<Pick<ServiceRow, 'friendly_name' | 'code_length' | 'do_not_share_warning_enabled' | 'skip_sms_to_landlines' | 'lookup_enabled'>>;

/** Verify Services of one app: made, read, changed and deleted only by the app that owns them. */
export class Services {
  constructor(
    private readonly db: Kysely<CoreDatabase>,
    private readonly clock: Clock,
  ) {}

  async get(appId: number, sid: string): Promise<ServiceRow | undefined> {
    if (!sidPattern('VA').test(sid)) return undefined;
    return this.db.selectFrom('verify_v2_services').selectAll().where('sid', '=', sid).where('app_id', '=', appId).executeTakeFirst();
  }

  /** The service `:sid` of the request's app, or 404 20404 naming `path` under it. */
  async ofRequest(req: Request, path = ''): Promise<ServiceRow> {
    const s = await this.get(req.v2App!.id, String(req.params['sid']));
    if (!s) throw notFound(`/Services/${String(req.params['sid'])}${path}`);
    return s;
  }

  async page(appId: number, page: number, size: number): Promise<ServiceRow[]> {
    return this.db.selectFrom('verify_v2_services').selectAll().where('app_id', '=', appId).orderBy('created_at', 'asc').orderBy('sid', 'asc').limit(size + 1).offset(page * size).execute();
  }

  async create(appId: number, s: Settings & { friendly_name: string }): Promise<ServiceRow> {
    const now = this.clock.now();
    const row: ServiceRow = { sid: newSid('VA'), app_id: appId, code_length: 6, do_not_share_warning_enabled: 0, skip_sms_to_landlines: 0, lookup_enabled: 1, ...s, created_at: now, updated_at: now };
    await this.db.insertInto('verify_v2_services').values(row).execute();
    return row;
  }

  async update(appId: number, sid: string, s: Settings): Promise<ServiceRow | undefined> {
    if (Object.keys(s).length > 0) await this.db.updateTable('verify_v2_services').set({ ...s, updated_at: this.clock.now() }).where('sid', '=', sid).where('app_id', '=', appId).execute();
    return this.get(appId, sid);
  }

  async remove(appId: number, sid: string): Promise<boolean> {
    const r = await this.db.deleteFrom('verify_v2_services').where('sid', '=', sid).where('app_id', '=', appId).executeTakeFirst();
    return Number(r.numDeletedRows) === 1;
  }
}
