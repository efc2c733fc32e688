import { randomUUID } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { Clock } from '../../platform/clock.js';
import type { WebhookSink } from '../ports.js';
import type { CoreDatabase, VerifyTables } from '../schema.js';
import { isoDate, newSid, sidPattern } from './resources.js';

export type WebhookRow = Selectable<VerifyTables['verify_v2_webhooks']>;

/** The events a webhook may ask for (`*`: all of them). */
export const EVENT_TYPES = ['factor.created', 'factor.verified', 'factor.deleted', 'challenge.approved', 'challenge.denied', 'challenge.expired'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Webhooks one service may have. */
export const MAX_WEBHOOKS = 10;

/** What an event tells of: the service, the entity, the factor and maybe a challenge. */
export interface V2Event {
  type: EventType;
  appId: number;
  accountSid: string;
  serviceSid: string;
  identity: string;
  factor: { sid: string; type: string; friendlyName: string; status: string };
  challenge?: { sid: string; status: string; details: string; hiddenDetails: string | null; metadata: string | null };
}

/**
 * A service's webhooks, and the events they are sent: one outbox row per matching webhook,
 * queued in the transaction of the change (see WebhookSink), delivered with retries.
 */
export class Webhooks {
  constructor(
    private readonly db: Kysely<CoreDatabase>,
    private readonly clock: Clock,
    private readonly sink: WebhookSink | undefined,
  ) {}

  list(serviceSid: string): Promise<WebhookRow[]> {
    return this.db.selectFrom('verify_v2_webhooks').selectAll().where('service_sid', '=', serviceSid).orderBy('created_at').orderBy('sid').execute();
  }

  get(serviceSid: string, sid: string): Promise<WebhookRow | undefined> {
    if (!sidPattern('YW').test(sid)) return Promise.resolve(undefined);
    return this.db.selectFrom('verify_v2_webhooks').selectAll().where('service_sid', '=', serviceSid).where('sid', '=', sid).executeTakeFirst();
  }

  async create(serviceSid: string, w: Pick<WebhookRow, 'friendly_name' | 'event_types' | 'webhook_url' | 'status' | 'version'>): Promise<WebhookRow> {
    const now = this.clock.now();
    const row: WebhookRow = { sid: newSid('YW'), service_sid: serviceSid, ...w, created_at: now, updated_at: now };
    await this.db.insertInto('verify_v2_webhooks').values(row).execute();
    return row;
  }

  async update(sid: string, set: Partial<Pick<WebhookRow, 'friendly_name' | 'event_types' | 'webhook_url' | 'status' | 'version'>>): Promise<void> {
    await this.db.updateTable('verify_v2_webhooks').set({ ...set, updated_at: this.clock.now() }).where('sid', '=', sid).execute();
  }

  async remove(sid: string): Promise<void> {
    await this.db.deleteFrom('verify_v2_webhooks').where('sid', '=', sid).execute();
  }

  /** Queue `e` for every enabled webhook of its service that asks for it, in `trx`. */
  async emit(trx: Kysely<CoreDatabase>, e: V2Event): Promise<number> {
    if (!this.sink) return 0;
    const hooks = await trx.selectFrom('verify_v2_webhooks').selectAll().where('service_sid', '=', e.serviceSid).where('status', '=', 'enabled').execute();
    let n = 0;
    const urls = new Set<string>();
    for (const h of hooks) {
      const types = JSON.parse(h.event_types) as string[];
      // One POST per URL and event, however many webhooks name it.
      if ((!types.includes('*') && !types.includes(e.type)) || urls.has(h.webhook_url)) continue;
      urls.add(h.webhook_url);
      await this.sink.enqueue(trx as unknown as Kysely<unknown>, { eventId: `v2:${randomUUID()}`, appId: e.appId, url: h.webhook_url, params: eventParams(e, this.clock.now()) });
      n++;
    }
    return n;
  }

  /** Start delivering what `emit` queued (call once the transaction committed). */
  kick(): void {
    this.sink?.kick();
  }
}

/** The form a webhook receives (docs/verify-v2.md, "Webhooks"). */
function eventParams(e: V2Event, now: number): Record<string, string> {
  return {
    uuid: randomUUID(),
    type: e.type,
    account_sid: e.accountSid,
    service_sid: e.serviceSid,
    entity_identity: e.identity,
    factor_sid: e.factor.sid,
    factor_type: e.factor.type,
    factor_friendly_name: e.factor.friendlyName,
    factor_status: e.factor.status,
    ...(e.challenge
      ? { challenge_sid: e.challenge.sid, challenge_status: e.challenge.status, challenge_details: e.challenge.details, ...(e.challenge.hiddenDetails ? { hidden_details: e.challenge.hiddenDetails } : {}), ...(e.challenge.metadata ? { metadata: e.challenge.metadata } : {}) }
      : {}),
    created_date: isoDate(now),
  };
}
