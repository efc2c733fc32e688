import { Router, type Request } from 'express';
import type { V2Context } from './context.js';
import { invalidParameter, notFound } from './errors.js';
import { isoDate, onePage, param, requiredParam } from './resources.js';
import { EVENT_TYPES, MAX_WEBHOOKS, type WebhookRow } from './webhook-store.js';
import { endpointHostAllowed } from '../../platform/egress.js';
import { plainName } from './resources.js';

/** The Webhook as Verify answers it. */
function webhookResource(w: WebhookRow, accountSid: string, base: string): Record<string, unknown> {
  return {
    sid: w.sid,
    service_sid: w.service_sid,
    account_sid: accountSid,
    friendly_name: w.friendly_name,
    event_types: JSON.parse(w.event_types) as string[],
    status: w.status,
    version: w.version,
    webhook_url: w.webhook_url,
    webhook_method: 'POST',
    date_created: isoDate(w.created_at),
    date_updated: isoDate(w.updated_at),
    url: `${base}/v2/Services/${w.service_sid}/Webhooks/${w.sid}`,
  };
}

/** `EventTypes` (repeated), each a known event or `*`. */
function eventTypes(req: Request, required: boolean): string[] | undefined {
  const raw = ((req.body ?? {}) as Record<string, unknown>)['EventTypes'];
  if (raw === undefined) {
    if (required) throw invalidParameter('EventTypes', 'is required');
    return undefined;
  }
  const list = (Array.isArray(raw) ? raw : [raw]).map(String);
  if (list.length === 0 || list.length > 10 || !list.every((t) => t === '*' || (EVENT_TYPES as readonly string[]).includes(t))) throw invalidParameter('EventTypes', `* or ${EVENT_TYPES.join(', ')}`);
  return [...new Set(list)];
}

/**
 * Where a webhook may point: without credentials or fragment; in production over https to a public
 * host (an address literal is judged here, a name again when connecting), elsewhere http too.
 */
function webhookUrl(raw: string, production: boolean): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw invalidParameter('WebhookUrl', 'an absolute URL');
  }
  if (u.username || u.password || u.hash || (u.protocol !== 'https:' && u.protocol !== 'http:')) throw invalidParameter('WebhookUrl', 'http(s), without credentials or fragment');
  if (production && (u.protocol !== 'https:' || !endpointHostAllowed(u.toString()))) throw invalidParameter('WebhookUrl', 'https to a public address');
  return u.toString();
}

function statusOf(req: Request): 'enabled' | 'disabled' | undefined {
  const s = param(req, 'Status');
  if (s !== undefined && s !== 'enabled' && s !== 'disabled') throw invalidParameter('Status', 'enabled or disabled');
  return s;
}

function versionOf(req: Request): 'v1' | 'v2' | undefined {
  const v = param(req, 'Version');
  if (v !== undefined && v !== 'v1' && v !== 'v2') throw invalidParameter('Version', 'v1 or v2');
  return v;
}

/** `/v2/Services/{VA}/Webhooks`: create, fetch, list, update, delete. */
export function webhookRoutes(c: V2Context, production: boolean): Router {
  const r = Router();
  const acct = (req: Request) => req.v2App!.accountSid;
  const serviceOf = (req: Request) => c.services.ofRequest(req, '/Webhooks');
  const hookOf = async (req: Request) => {
    const s = await serviceOf(req);
    const w = await c.webhooks.get(s.sid, String(req.params.wsid));
    if (!w) throw notFound(`/Services/${s.sid}/Webhooks/${String(req.params.wsid)}`);
    return w;
  };

  r.post('/Services/:sid/Webhooks', async (req, res) => {
    const s = await serviceOf(req);
    if ((await c.webhooks.list(s.sid)).length >= MAX_WEBHOOKS) throw invalidParameter('WebhookUrl', `a service has at most ${MAX_WEBHOOKS} webhooks`);
    const w = await c.webhooks.create(s.sid, {
      friendly_name: plainName(requiredParam(req, 'FriendlyName', 64), 'FriendlyName'),
      event_types: JSON.stringify(eventTypes(req, true)),
      webhook_url: webhookUrl(requiredParam(req, 'WebhookUrl', 2000), production),
      status: statusOf(req) ?? 'enabled',
      version: versionOf(req) ?? 'v2',
    });
    res.status(201).json(webhookResource(w, acct(req), c.baseUrl()));
  });
  r.get('/Services/:sid/Webhooks', async (req, res) => {
    const s = await serviceOf(req);
    const items = (await c.webhooks.list(s.sid)).map((w) => webhookResource(w, acct(req), c.baseUrl()));
    res.json(onePage('webhooks', items, `${c.baseUrl()}/v2/Services/${s.sid}/Webhooks`));
  });
  r.get('/Services/:sid/Webhooks/:wsid', async (req, res) => res.json(webhookResource(await hookOf(req), acct(req), c.baseUrl())));
  r.post('/Services/:sid/Webhooks/:wsid', async (req, res) => {
    const w = await hookOf(req);
    const name = param(req, 'FriendlyName');
    const url = param(req, 'WebhookUrl');
    const types = eventTypes(req, false);
    const status = statusOf(req);
    const version = versionOf(req);
    await c.webhooks.update(w.sid, {
      ...(name !== undefined ? { friendly_name: plainName(name, 'FriendlyName') } : {}),
      ...(url !== undefined ? { webhook_url: webhookUrl(url, production) } : {}),
      ...(types ? { event_types: JSON.stringify(types) } : {}),
      ...(status ? { status } : {}),
      ...(version ? { version } : {}),
    });
    res.json(webhookResource((await c.webhooks.get(w.service_sid, w.sid))!, acct(req), c.baseUrl()));
  });
  r.delete('/Services/:sid/Webhooks/:wsid', async (req, res) => {
    await c.webhooks.remove((await hookOf(req)).sid);
    res.status(204).end();
  });
  return r;
}
