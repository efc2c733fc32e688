import { Router, type Request } from 'express';
import { invalidParameter, notFound } from './errors.js';
import { boolParam, intParam, listPage, messageName, pageOf, param, requiredParam, serviceResource } from './resources.js';
import type { Settings } from './service-store.js';
import type { V2Context } from './context.js';

/** A service's name appears in every message it sends. */
const friendlyName = (v: string) => messageName(v, 'FriendlyName');

/** The settings a create or update request carries. */
function settingsOf(req: Request): Settings {
  if (boolParam(req, 'CustomCodeEnabled') === true) throw invalidParameter('CustomCodeEnabled', 'custom codes are not offered: Twofold makes every code');
  if (boolParam(req, 'Psd2Enabled') === true) throw invalidParameter('Psd2Enabled', 'not offered');
  const out: Settings = {};
  const name = param(req, 'FriendlyName');
  if (name !== undefined) out.friendly_name = friendlyName(name);
  const length = intParam(req, 'CodeLength', 4, 10);
  if (length !== undefined) out.code_length = length;
  const flags = { DoNotShareWarningEnabled: 'do_not_share_warning_enabled', SkipSmsToLandlines: 'skip_sms_to_landlines', LookupEnabled: 'lookup_enabled' } as const;
  for (const [p, column] of Object.entries(flags)) {
    const b = boolParam(req, p);
    if (b !== undefined) out[column] = b ? 1 : 0;
  }
  return out;
}

/** Services one app may have. */
const MAX_SERVICES = 100;

/** `/v2/Services`: create, fetch, list (paged as Twilio pages), update, delete. */
export function serviceRoutes(c: V2Context): Router {
  const r = Router();
  const base = () => c.baseUrl();

  r.post('/Services', async (req, res) => {
    const name = friendlyName(requiredParam(req, 'FriendlyName', 64));
    if ((await c.services.page(req.v2App!.id, 0, MAX_SERVICES)).length >= MAX_SERVICES) throw invalidParameter('FriendlyName', `an app has at most ${MAX_SERVICES} services`);
    const s = await c.services.create(req.v2App!.id, { ...settingsOf(req), friendly_name: name });
    res.status(201).json(serviceResource(s, req.v2App!.accountSid, base()));
  });

  r.get('/Services', async (req, res) => {
    const p = pageOf(req);
    const rows = await c.services.page(req.v2App!.id, p.page, p.size);
    res.json(listPage('services', rows, p, (n) => `${base()}/v2/Services?PageSize=${p.size}&Page=${n}`, (s) => serviceResource(s, req.v2App!.accountSid, base())));
  });

  r.get('/Services/:sid', async (req, res) => {
    res.json(serviceResource(await c.services.ofRequest(req), req.v2App!.accountSid, base()));
  });

  // Update and delete touch the app's own service only (both statements name the app).
  r.post('/Services/:sid', async (req, res) => {
    const sid = String(req.params.sid);
    const s = await c.services.update(req.v2App!.id, sid, settingsOf(req));
    if (!s) throw notFound(`/Services/${sid}`);
    res.json(serviceResource(s, req.v2App!.accountSid, base()));
  });

  r.delete('/Services/:sid', async (req, res) => {
    const sid = String(req.params.sid);
    if (!(await c.services.remove(req.v2App!.id, sid))) throw notFound(`/Services/${sid}`);
    res.status(204).end();
  });

  return r;
}
