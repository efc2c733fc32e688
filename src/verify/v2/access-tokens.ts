import { Router, type Request } from 'express';
import type { V2Context } from './context.js';
import { invalidParameter, notFound, TwilioError } from './errors.js';
import { badIdentity, IDENTITY } from './factor-routes.js';
import type { AccessTokenRow } from './push-store.js';
import { intParam, isoDate, param, plainName, requiredParam } from './resources.js';

/** The AccessToken as Verify answers it; `token` only in the answer that creates it (it is stored hashed). */
export function accessTokenResource(t: AccessTokenRow, accountSid: string, base: string, token: string | null): Record<string, unknown> {
  return {
    sid: t.sid,
    account_sid: accountSid,
    service_sid: t.service_sid,
    entity_identity: t.identity,
    factor_type: t.factor_type,
    factor_friendly_name: t.factor_friendly_name,
    token,
    url: `${base}/v2/Services/${t.service_sid}/AccessTokens/${t.sid}`,
    ttl: t.ttl,
    date_created: isoDate(t.created_at),
  };
}

/** `/v2/Services/{VA}/AccessTokens`: the app asks for a token its user's device creates a push factor with. */
export function accessTokenRoutes(c: V2Context): Router {
  const r = Router();
  const acct = (req: Request) => req.v2App!.accountSid;

  r.post('/Services/:sid/AccessTokens', async (req, res) => {
    const s = await c.services.ofRequest(req, '/AccessTokens');
    const identity = requiredParam(req, 'Identity', 64);
    if (!IDENTITY.test(identity)) throw badIdentity();
    const type = requiredParam(req, 'FactorType', 16);
    if (type !== 'push') throw invalidParameter('FactorType', 'push');
    const nameRaw = param(req, 'FactorFriendlyName');
    const friendlyName = nameRaw === undefined ? null : plainName(nameRaw, 'FactorFriendlyName');
    const ttl = intParam(req, 'Ttl', 60, 300) ?? 60;
    const lim = await c.tokenLimit.consume(`${s.sid}:${identity}`);
    if (!lim.allowed) throw new TwilioError(429, 20429, 'Too Many Requests', { headers: { 'Retry-After': String(lim.retryAfterSeconds) } });
    const made = await c.push.createToken({ serviceSid: s.sid, identity, friendlyName, ttl });
    res.status(201).json(accessTokenResource(made.row, acct(req), c.baseUrl(), made.token));
  });

  r.get('/Services/:sid/AccessTokens/:ksid', async (req, res) => {
    const s = await c.services.ofRequest(req, '/AccessTokens');
    const t = await c.push.getToken(s.sid, String(req.params.ksid));
    if (!t) throw notFound(`/Services/${s.sid}/AccessTokens/${String(req.params.ksid)}`);
    res.json(accessTokenResource(t, acct(req), c.baseUrl(), null));
  });

  return r;
}
