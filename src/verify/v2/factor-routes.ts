import { Router, type Request } from 'express';
import { base32Decode, base32Encode, totpUri } from '../core/totp.js';
import type { V2Context } from './context.js';
import { invalidParameter, notFound, TwilioError } from './errors.js';
import { challengeResource, entityResource, factorResource } from './factor-resources.js';
import { CHALLENGE_DEFAULT_MS, CHALLENGE_MAX_MS, type EntityRow, type FactorRow, type TotpConfig } from './factor-store.js';
import { intParam, listPage, onePage, pageOf, param, plainName, requiredParam, sidPattern } from './resources.js';
import { timeStepAt } from '../core/totp.js';
import { eventOf, expireChallenges } from './events.js';
import type { V2App } from './context.js';

/** Verify's rule: 8 to 64 characters, dash-separated letters and digits (a UUID, say; never an email or phone). */
export const IDENTITY = /^(?=.{8,64}$)[A-Za-z0-9]+(-[A-Za-z0-9]+)*$/;
export const badIdentity = () => new TwilioError(400, 60366, 'Entity invalid or not provided: the Identity must be 8 to 64 dash-separated letters and digits');
const ALGS = ['sha1', 'sha256', 'sha512'] as const;
/** Factors one entity may have. */
export const MAX_FACTORS = 20;

const pushByDevice = () => new TwilioError(400, 60200, 'Invalid parameter `AuthPayload`: a push factor and its challenges are answered by its device');
const notVerifiedChallenge = () => new TwilioError(400, 60200, 'Invalid parameter `FactorSid`: the factor is not verified');
const challengeTries = () => new TwilioError(429, 60308, 'Challenge verification attempts limit reached');
const tooMany = (retryAfter: number) => new TwilioError(429, 20429, 'Too Many Requests', { headers: { 'Retry-After': String(retryAfter) } });

/** `Details.Fields` (JSON `{label, value}` objects, given once each) and `HiddenDetails` (a JSON object of strings). */
function challengeDetails(req: Request, now: number): { details: string; hidden: string | null } {
  const raw = ((req.body ?? {}) as Record<string, unknown>)['Details.Fields'];
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  if (list.length > 20) throw invalidParameter('Details.Fields', 'at most 20');
  const fields = list.map((f) => {
    try {
      const o = JSON.parse(String(f)) as unknown;
      if (o && typeof o === 'object' && typeof (o as { label?: unknown }).label === 'string' && typeof (o as { value?: unknown }).value === 'string') {
        const { label, value } = o as { label: string; value: string };
        if (label.length <= 64 && value.length <= 256) return { label, value };
      }
    } catch {
      /* refused below */
    }
    throw invalidParameter('Details.Fields', 'each a JSON object {"label", "value"} of strings');
  });
  const message = param(req, 'Details.Message');
  if (message !== undefined && message.length > 1024) throw invalidParameter('Details.Message', 'at most 1024 characters');
  const hidden = param(req, 'HiddenDetails');
  if (hidden !== undefined) {
    let o: unknown;
    try {
      o = JSON.parse(hidden);
    } catch {
      o = undefined;
    }
    if (hidden.length > 1024 || !o || typeof o !== 'object' || Array.isArray(o) || !Object.values(o).every((v) => typeof v === 'string')) throw invalidParameter('HiddenDetails', 'a JSON object of strings, at most 1024 characters');
  }
  return { details: JSON.stringify({ message: message ?? null, fields, date: new Date(now).toISOString() }), hidden: hidden ?? null };
}

/** Config.* of a TOTP factor, over `base` (its defaults, or the factor's current ones). */
function totpConfig(req: Request, base: TotpConfig): TotpConfig {
  const alg = param(req, 'Config.Alg');
  if (alg !== undefined && !(ALGS as readonly string[]).includes(alg)) throw invalidParameter('Config.Alg', 'sha1, sha256 or sha512');
  return {
    time_step: intParam(req, 'Config.TimeStep', 20, 60) ?? base.time_step,
    skew: intParam(req, 'Config.Skew', 0, 2) ?? base.skew,
    code_length: intParam(req, 'Config.CodeLength', 3, 8) ?? base.code_length,
    alg: (alg as TotpConfig['alg'] | undefined) ?? base.alg,
  };
}

/** Entities, their TOTP factors and challenges (`/v2/Services/{VA}/Entities/…`). */
export function factorRoutes(c: V2Context): Router {
  const r = Router();
  const base = () => c.baseUrl();
  const acct = (req: Request) => req.v2App!.accountSid;
  const serviceOf = (req: Request) => c.services.ofRequest(req);
  const identityOf = (req: Request) => {
    const id = String(req.params.identity);
    if (!IDENTITY.test(id)) throw badIdentity();
    return id;
  };
  const entityOf = async (req: Request): Promise<EntityRow> => {
    const s = await serviceOf(req);
    const e = await c.factors.entity(s.sid, identityOf(req));
    if (!e) throw notFound(`/Services/${s.sid}/Entities/${String(req.params.identity)}`);
    return e;
  };
  const factorOf = async (req: Request, e: EntityRow, sid: string): Promise<FactorRow> => {
    const f = await c.factors.factor(e.sid, sid);
    if (!f) throw notFound(`/Services/${e.service_sid}/Entities/${e.identity}/Factors/${sid}`);
    return f;
  };
  /** Count a code try on a factor (5 per 10 minutes, shared store), then check it once. */
  const codeOk = async (f: FactorRow, code: string) => {
    const lim = await c.factorTries.consume(f.sid);
    if (!lim.allowed) throw tooMany(lim.retryAfterSeconds);
    return /^\d{3,8}$/.test(code) && (await c.factors.acceptCode(f, code));
  };

  r.post('/Services/:sid/Entities', async (req, res) => {
    const s = await serviceOf(req);
    const identity = requiredParam(req, 'Identity', 64);
    if (!IDENTITY.test(identity)) throw badIdentity();
    if (await c.factors.entity(s.sid, identity)) throw new TwilioError(409, 60301, 'Entity already exists');
    res.status(201).json(entityResource(await c.factors.ensureEntity(s.sid, identity), acct(req), base()));
  });
  r.get('/Services/:sid/Entities', async (req, res) => {
    const s = await serviceOf(req);
    const p = pageOf(req);
    const rows = await c.factors.entities(s.sid, p.page, p.size);
    res.json(listPage('entities', rows, p, (n) => `${base()}/v2/Services/${s.sid}/Entities?PageSize=${p.size}&Page=${n}`, (e) => entityResource(e, acct(req), base())));
  });
  r.get('/Services/:sid/Entities/:identity', async (req, res) => res.json(entityResource(await entityOf(req), acct(req), base())));
  r.delete('/Services/:sid/Entities/:identity', async (req, res) => {
    const e = await entityOf(req);
    const factors = await c.factors.factors(e.sid);
    // Its factors go with it, each told to the webhooks as factor.deleted.
    await c.db.transaction().execute(async (trx) => {
      for (const f of factors) await c.webhooks.emit(trx, eventOf('factor.deleted', req.v2App!, e, f));
      await c.factors.deleteEntity(e.sid, trx);
    });
    c.webhooks.kick();
    res.status(204).end();
  });

  r.post('/Services/:sid/Entities/:identity/Factors', async (req, res) => {
    const s = await serviceOf(req);
    const identity = identityOf(req);
    const name = plainName(requiredParam(req, 'FriendlyName', 64), 'FriendlyName');
    const type = requiredParam(req, 'FactorType', 16);
    if (type !== 'totp') throw invalidParameter('FactorType', type === 'push' ? 'a push factor is created by its device, with an access token (AccessTokens)' : 'totp');
    const config = totpConfig(req, { time_step: 30, skew: 1, code_length: 6, alg: 'sha1' });
    const given = param(req, 'Binding.Secret');
    let secret: Uint8Array | undefined;
    if (given !== undefined) {
      try {
        secret = base32Decode(given);
      } catch {
        secret = undefined;
      }
      if (!secret || secret.length < 10 || secret.length > 64) throw invalidParameter('Binding.Secret', 'base32, 80 to 512 bits');
    }
    const e = await c.factors.ensureEntity(s.sid, identity);
    if ((await c.factors.factors(e.sid)).length >= MAX_FACTORS) throw invalidParameter('FactorType', `an entity has at most ${MAX_FACTORS} factors`);
    const made = await c.db.transaction().execute(async (trx) => {
      const m = await c.factors.createTotp(e, name, config, secret, trx);
      await c.webhooks.emit(trx, eventOf('factor.created', req.v2App!, e, m.row));
      return m;
    });
    c.webhooks.kick();
    const uri = totpUri(made.secret, s.friendly_name, name, { digits: config.code_length, periodInSeconds: config.time_step, algorithm: config.alg.toUpperCase() as 'SHA1' });
    res.status(201).json(factorResource(made.row, e, acct(req), base(), { secret: base32Encode(made.secret), uri }));
  });
  r.get('/Services/:sid/Entities/:identity/Factors', async (req, res) => {
    const e = await entityOf(req);
    const url = `${base()}/v2/Services/${e.service_sid}/Entities/${encodeURIComponent(e.identity)}/Factors`;
    res.json(onePage('factors', (await c.factors.factors(e.sid)).map((f) => factorResource(f, e, acct(req), base())), url));
  });
  r.get('/Services/:sid/Entities/:identity/Factors/:fsid', async (req, res) => {
    const e = await entityOf(req);
    res.json(factorResource(await factorOf(req, e, String(req.params.fsid)), e, acct(req), base()));
  });
  // Update: `AuthPayload` verifies a new factor with a first code; the name and Config.* change.
  r.post('/Services/:sid/Entities/:identity/Factors/:fsid', async (req, res) => {
    const e = await entityOf(req);
    const f = await factorOf(req, e, String(req.params.fsid));
    const code = param(req, 'AuthPayload');
    const name = param(req, 'FriendlyName');
    if (f.factor_type === 'push') {
      // Only its device proves a push factor; the app may rename it.
      if (code !== undefined) throw pushByDevice();
      if (name !== undefined) await c.factors.updateFactor(f.sid, { friendly_name: plainName(name, 'FriendlyName') });
      return void res.json(factorResource((await c.factors.factor(e.sid, f.sid))!, e, acct(req), base()));
    }
    const before = JSON.parse(f.config) as TotpConfig;
    const after = totpConfig(req, before);
    // A new time step counts steps anew (no code of it was accepted yet): the window starts now.
    const restep = after.time_step !== before.time_step ? { last_step: timeStepAt(c.clock.now(), after.time_step) - after.skew - 1 } : {};
    await c.factors.updateFactor(f.sid, { ...(name !== undefined ? { friendly_name: plainName(name, 'FriendlyName') } : {}), config: JSON.stringify(after), ...restep });
    if (f.status === 'unverified' && code !== undefined && (await codeOk(f, code.trim()))) {
      // Verified once, with its factor.verified event in the same transaction.
      await c.db.transaction().execute(async (trx) => {
        if (await c.factors.markVerified(f.sid, trx)) await c.webhooks.emit(trx, eventOf('factor.verified', req.v2App!, e, { ...f, status: 'verified' }));
      });
      c.webhooks.kick();
    }
    res.json(factorResource((await c.factors.factor(e.sid, f.sid))!, e, acct(req), base()));
  });
  r.delete('/Services/:sid/Entities/:identity/Factors/:fsid', async (req, res) => {
    const e = await entityOf(req);
    const f = await factorOf(req, e, String(req.params.fsid));
    await c.db.transaction().execute(async (trx) => {
      await c.factors.deleteFactor(f.sid, trx);
      await c.webhooks.emit(trx, eventOf('factor.deleted', req.v2App!, e, f));
    });
    c.webhooks.kick();
    res.status(204).end();
  });

  challengeRoutes(r, c, { entityOf, factorOf, codeOk, acct, base });
  return r;
}

type Helpers = {
  entityOf: (req: Request) => Promise<EntityRow>;
  factorOf: (req: Request, e: EntityRow, sid: string) => Promise<FactorRow>;
  codeOk: (f: FactorRow, code: string) => Promise<boolean>;
  acct: (req: Request) => string;
  base: () => string;
};

/**
 * A code answers a pending challenge: its try is counted first (5), a right one approves it once,
 * with its challenge.approved event in the same transaction.
 */
async function answer(c: V2Context, h: Helpers, app: V2App, e: EntityRow, f: FactorRow, sid: string, code: string): Promise<void> {
  if (f.factor_type === 'push') throw pushByDevice();
  const claim = await c.factors.claimChallengeTry(sid);
  if (claim === 'exhausted') throw challengeTries();
  if (claim === 'ended') throw new TwilioError(400, 60200, 'Invalid parameter `AuthPayload`: the challenge is no longer pending');
  if (!(await h.codeOk(f, code))) return;
  await c.db.transaction().execute(async (trx) => {
    const approved = await c.factors.approveChallenge(sid, trx);
    if (approved) await c.webhooks.emit(trx, eventOf('challenge.approved', app, e, f, approved));
  });
  c.webhooks.kick();
}

function challengeRoutes(r: Router, c: V2Context, h: Helpers): void {
  r.post('/Services/:sid/Entities/:identity/Challenges', async (req, res) => {
    const e = await h.entityOf(req);
    const f = await h.factorOf(req, e, requiredParam(req, 'FactorSid', 34));
    if (f.status !== 'verified') throw notVerifiedChallenge();
    if (f.factor_type === 'push' && param(req, 'AuthPayload') !== undefined) throw pushByDevice();
    const now = c.clock.now();
    const until = param(req, 'ExpirationDate');
    const expiresAt = until === undefined ? now + CHALLENGE_DEFAULT_MS : Date.parse(until);
    if (!Number.isFinite(expiresAt) || expiresAt <= now || expiresAt > now + CHALLENGE_MAX_MS) throw invalidParameter('ExpirationDate', 'a time within the next 60 minutes');
    const ch = await c.factors.createChallenge(f, { ...challengeDetails(req, now), expiresAt });
    // Committed: the factor's device (if it registered a Web Push subscription) hears of it, once.
    c.webPush.challengeCreated(f, e, ch);
    const code = param(req, 'AuthPayload');
    if (code !== undefined) await answer(c, h, req.v2App!, e, f, ch.sid, code.trim());
    res.status(201).json(challengeResource((await c.factors.challenge(e.sid, ch.sid))!, f, e, h.acct(req), h.base()));
  });
  r.get('/Services/:sid/Entities/:identity/Challenges', async (req, res) => {
    const e = await h.entityOf(req);
    await expireChallenges(c, e.service_sid);
    const factors = new Map((await c.factors.factors(e.sid)).map((f) => [f.sid, f]));
    const factorSid = param(req, 'FactorSid');
    const status = param(req, 'Status');
    if (factorSid !== undefined && !sidPattern('YF').test(factorSid)) throw invalidParameter('FactorSid');
    if (status !== undefined && !['pending', 'approved', 'denied', 'expired'].includes(status)) throw invalidParameter('Status', 'pending, approved, denied or expired');
    const rows = await c.factors.challenges(e.sid, { factorSid, status });
    const url = `${h.base()}/v2/Services/${e.service_sid}/Entities/${encodeURIComponent(e.identity)}/Challenges`;
    res.json(onePage('challenges', rows.map((ch) => challengeResource(ch, factors.get(ch.factor_sid)!, e, h.acct(req), h.base())), url));
  });
  r.get('/Services/:sid/Entities/:identity/Challenges/:csid', async (req, res) => {
    const e = await h.entityOf(req);
    await expireChallenges(c, e.service_sid);
    const ch = await c.factors.challenge(e.sid, String(req.params.csid));
    if (!ch) throw notFound(`/Services/${e.service_sid}/Entities/${e.identity}/Challenges/${String(req.params.csid)}`);
    res.json(challengeResource(ch, await h.factorOf(req, e, ch.factor_sid), e, h.acct(req), h.base()));
  });
  r.post('/Services/:sid/Entities/:identity/Challenges/:csid', async (req, res) => {
    const e = await h.entityOf(req);
    const ch = await c.factors.challenge(e.sid, String(req.params.csid));
    if (!ch) throw notFound(`/Services/${e.service_sid}/Entities/${e.identity}/Challenges/${String(req.params.csid)}`);
    const f = await h.factorOf(req, e, ch.factor_sid);
    await answer(c, h, req.v2App!, e, f, ch.sid, requiredParam(req, 'AuthPayload', 16).trim());
    res.json(challengeResource((await c.factors.challenge(e.sid, ch.sid))!, f, e, h.acct(req), h.base()));
  });
}
