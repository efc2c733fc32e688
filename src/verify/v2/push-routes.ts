import { createHash } from 'node:crypto';
import express, { Router, type Request, type Response } from 'express';
import { pushChallengeSigningString, pushDetailsPayload, pushFactorProofString, type PushDetails } from '../../protocol/verify-push.js';
import type { V2Context } from './context.js';
import { authenticationError, invalidParameter, notFound, TwilioError } from './errors.js';
import { eventOf, expireChallenges } from './events.js';
import { challengeResource, factorResource } from './factor-resources.js';
import { MAX_FACTORS } from './factor-routes.js';
import type { ChallengeRow } from './factor-store.js';
import { accessTokenOf, admitDevice, authenticateFactor, deviceAuthenticated, deviceFailure, isDeviceRequest, parseSpki, signedBy } from './push-auth.js';
import type { PushConfig, SignerRow } from './push-store.js';
import { pushSubscriptionRoutes } from './push-subscription-routes.js';
import { onePage, param, plainName, requiredParam } from './resources.js';

/** A form body (as Twilio's clients send), parsed from the raw bytes the signature covers; a repeated key becomes a list (`param` refuses it). */
function formOf(raw: Buffer | undefined): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (!raw || raw.length === 0) return out;
  const params = new URLSearchParams(raw.toString('utf8'));
  let n = 0;
  for (const [k, v] of params) {
    if (++n > 50) throw new TwilioError(400, 20001, 'Invalid request body');
    const had = Object.hasOwn(out, k) ? out[k] : undefined;
    out[k] = had === undefined ? v : [...(Array.isArray(had) ? had : [had]), v];
  }
  return out;
}

/** Hex SHA-256 of a challenge's details as its device shows them. */
export function pushDetailsHash(ch: ChallengeRow): string {
  const d = JSON.parse(ch.details) as PushDetails;
  return createHash('sha256').update(pushDetailsPayload({ message: d.message ?? null, fields: d.fields ?? [] }), 'utf8').digest('hex');
}

const rawOf = (res: Response) => res.locals['raw'] as Buffer | undefined;
const printable = (req: Request, name: string, max: number, pattern: RegExp): string | null => {
  const v = param(req, name);
  if (v === undefined) return null;
  if (v.length > max || !pattern.test(v)) throw invalidParameter(name);
  return v;
};

/** `Binding.*` and `Config.*` of a new push factor: an ES256 key (base64 SPKI DER of P-256) and no notification platform. */
function bindingOf(req: Request): { publicKey: string; config: PushConfig } {
  if (requiredParam(req, 'Binding.Alg', 16) !== 'ES256') throw invalidParameter('Binding.Alg', 'ES256');
  const publicKey = requiredParam(req, 'Binding.PublicKey', 256);
  if (!parseSpki(publicKey)) throw invalidParameter('Binding.PublicKey', 'base64 SPKI DER of a P-256 public key');
  const platform = param(req, 'Config.NotificationPlatform') ?? 'none';
  if (platform !== 'none') throw invalidParameter('Config.NotificationPlatform', 'none (the Twofold authenticator lists its challenges itself)');
  return {
    publicKey,
    config: {
      sdk_version: printable(req, 'Config.SdkVersion', 32, /^[A-Za-z0-9._+-]+$/),
      app_id: printable(req, 'Config.AppId', 128, /^[A-Za-z0-9._-]+$/),
      notification_platform: 'none',
      notification_token: null,
    },
  };
}

/**
 * What a device may do under `/v2` (docs/verify-v2.md "Push factors"): create its factor with an
 * access token, then, with requests signed by the factor's key, verify it, read its own
 * challenges and approve or deny them. Entered only by device requests; any other path is 401.
 */
export function pushDeviceRoutes(c: V2Context): Router {
  const r = Router();
  r.use((req, _res, next) => next(isDeviceRequest(req) ? undefined : 'router'));
  r.use(express.raw({ limit: '16kb', type: () => true }));
  r.use(async (req, res, next) => {
    await admitDevice(c, req);
    res.locals['raw'] = Buffer.isBuffer(req.body) ? req.body : undefined;
    req.body = formOf(rawOf(res));
    next();
  });
  const base = () => c.baseUrl();
  const signed = (req: Request, res: Response) => authenticateFactor(c, req, rawOf(res));
  const factorUrl = '/Services/:sid/Entities/:identity/Factors';
  const challengeUrl = '/Services/:sid/Entities/:identity/Challenges';

  r.post(factorUrl, async (req, res) => {
    const token = accessTokenOf(req);
    const t = token === undefined ? undefined : await c.push.tokenByValue(token);
    if (!t || t.service_sid !== String(req.params.sid) || t.identity !== String(req.params.identity)) throw await deviceFailure(c, req, 'access token unknown or for another entity');
    if (t.consumed_at !== null || t.expires_at <= c.clock.now()) throw await deviceFailure(c, req, 'access token used or expired');
    await deviceAuthenticated(c, req);
    if (requiredParam(req, 'FactorType', 16) !== 'push') throw invalidParameter('FactorType', 'push');
    const name = t.factor_friendly_name ?? plainName(requiredParam(req, 'FriendlyName', 64), 'FriendlyName');
    const binding = bindingOf(req);
    const app = await c.push.appOf(t.service_sid);
    if (!app) throw authenticationError();
    const e = await c.factors.ensureEntity(t.service_sid, t.identity);
    if ((await c.factors.factors(e.sid)).length >= MAX_FACTORS) throw invalidParameter('FactorType', `an entity has at most ${MAX_FACTORS} factors`);
    const f = await c.db.transaction().execute(async (trx) => {
      const made = await c.push.createFactor(trx, { tokenSid: t.sid, entity: e, name, ...binding });
      if (made) await c.webhooks.emit(trx, eventOf('factor.created', app, e, made));
      return made;
    });
    if (!f) throw await deviceFailure(c, req, 'access token used (raced)');
    c.webhooks.kick();
    res.status(201).json(factorResource(f, e, app.accountSid, base()));
  });

  const ownFactor = async (req: Request, res: Response): Promise<SignerRow> => {
    const s = await signed(req, res);
    if (String(req.params.fsid) !== s.factor.sid) throw notFound(`/Services/${s.entity.service_sid}/Entities/${s.entity.identity}/Factors/${String(req.params.fsid)}`);
    return s;
  };
  pushSubscriptionRoutes(r, c, factorUrl, ownFactor);
  r.get(`${factorUrl}/:fsid`, async (req, res) => {
    const s = await ownFactor(req, res);
    res.json(factorResource(s.factor, s.entity, s.app.accountSid, base()));
  });
  // Verify: `AuthPayload` is the factor key's signature of pushFactorProofString.
  r.post(`${factorUrl}/:fsid`, async (req, res) => {
    const s = await ownFactor(req, res);
    const name = param(req, 'FriendlyName');
    if (name !== undefined) await c.factors.updateFactor(s.factor.sid, { friendly_name: plainName(name, 'FriendlyName') });
    const proof = param(req, 'AuthPayload');
    if (s.factor.status === 'unverified' && proof !== undefined) {
      if (!signedBy(s.factor, pushFactorProofString({ serviceSid: s.entity.service_sid, identity: s.entity.identity, factorSid: s.factor.sid }), proof)) throw await deviceFailure(c, req, 'bad factor proof', 400);
      await c.db.transaction().execute(async (trx) => {
        if (await c.factors.markVerified(s.factor.sid, trx)) await c.webhooks.emit(trx, eventOf('factor.verified', s.app, s.entity, { ...s.factor, status: 'verified' }));
      });
      c.webhooks.kick();
    }
    res.json(factorResource((await c.factors.factor(s.entity.sid, s.factor.sid))!, s.entity, s.app.accountSid, base()));
  });

  // The device sees its own factor's challenges, without the hidden details (those are the app's).
  const view = (ch: ChallengeRow, s: SignerRow) => ({ ...challengeResource(ch, s.factor, s.entity, s.app.accountSid, base()), hidden_details: null });
  const ownChallenge = async (s: SignerRow, sid: string): Promise<ChallengeRow> => {
    const ch = await c.factors.challenge(s.entity.sid, sid);
    if (!ch || ch.factor_sid !== s.factor.sid) throw notFound(`/Services/${s.entity.service_sid}/Entities/${s.entity.identity}/Challenges/${sid}`);
    return ch;
  };
  r.get(challengeUrl, async (req, res) => {
    const s = await signed(req, res);
    const factorSid = param(req, 'FactorSid');
    const status = param(req, 'Status');
    if (factorSid !== undefined && factorSid !== s.factor.sid) throw invalidParameter('FactorSid', "the signing factor's own SID");
    if (status !== undefined && !['pending', 'approved', 'denied', 'expired'].includes(status)) throw invalidParameter('Status', 'pending, approved, denied or expired');
    await expireChallenges(c, s.entity.service_sid);
    const rows = await c.factors.challenges(s.entity.sid, { factorSid: s.factor.sid, status });
    res.json(onePage('challenges', rows.map((ch) => view(ch, s)), `${base()}/v2/Services/${s.entity.service_sid}/Entities/${encodeURIComponent(s.entity.identity)}/Challenges`));
  });
  r.get(`${challengeUrl}/:csid`, async (req, res) => {
    const s = await signed(req, res);
    await expireChallenges(c, s.entity.service_sid);
    res.json(view(await ownChallenge(s, String(req.params.csid)), s));
  });
  r.post(`${challengeUrl}/:csid`, async (req, res) => {
    const s = await signed(req, res);
    res.json(view(await answerChallenge(c, req, s, await ownChallenge(s, String(req.params.csid))), s));
  });

  r.use((req, _res, next) => next(authenticationError()));
  return r;
}

const notPending = () => new TwilioError(400, 60200, 'Invalid parameter `Status`: the challenge is no longer pending');

/**
 * The device's answer: `Status` approved or denied and `AuthPayload`, the factor key's signature
 * over (challenge, factor, status, hash of the details shown). Changed once, by a conditional
 * UPDATE, with its challenge.approved or challenge.denied event in the same transaction.
 */
async function answerChallenge(c: V2Context, req: Request, s: SignerRow, ch: ChallengeRow): Promise<ChallengeRow> {
  const status = requiredParam(req, 'Status', 16);
  if (status !== 'approved' && status !== 'denied') throw invalidParameter('Status', 'approved or denied');
  const proof = requiredParam(req, 'AuthPayload', 128);
  if (s.factor.status !== 'verified') throw invalidParameter('FactorSid', 'the factor is not verified');
  if (ch.status !== 'pending') throw notPending();
  if (!signedBy(s.factor, pushChallengeSigningString({ challengeSid: ch.sid, factorSid: s.factor.sid, status, detailsHash: pushDetailsHash(ch) }), proof)) {
    throw await deviceFailure(c, req, 'bad challenge signature', 400);
  }
  const after = await c.db.transaction().execute(async (trx) => {
    const row = await c.push.answer(ch.sid, s.factor.sid, status, trx);
    if (row) await c.webhooks.emit(trx, eventOf(status === 'approved' ? 'challenge.approved' : 'challenge.denied', s.app, s.entity, s.factor, row));
    return row;
  });
  if (!after) throw notPending();
  c.webhooks.kick();
  return after;
}
