import { Router } from 'express';
import type { Logger } from '../../platform/logger.js';
import { mountOps, type ApiRoute } from '../api.js';
import type { ServiceDirectory } from '../ports.js';
import type { OneTouchPlatform } from '../schema-onetouch.js';
import { AuthyCode, AuthyError } from '../authy-errors.js';
import {
  authyBodyParsers,
  authyErrorHandler,
  isTruthy,
  param,
  requireApiKey,
  type AppLookup,
  type ParamObject,
  type ParamValue,
} from '../authy-http.js';
import type { Approvals, Logo } from './approvals.js';
import type { Devices } from './devices.js';

/** Authy's default request lifetime; 0 means "never expires". */
export const DEFAULT_SECONDS_TO_EXPIRE = 86_400;
/** Upper bound we accept for `seconds_to_expire` (30 days). */
export const MAX_SECONDS_TO_EXPIRE = 30 * 86_400;
export const MAX_MESSAGE_CHARS = 144;
const MAX_DETAIL_KEYS = 30;
const MAX_DETAIL_KEY_CHARS = 100;
const MAX_DETAIL_VALUE_CHARS = 1000;
const MAX_LOGOS = 10;
const LOGO_RES = new Set(['default', 'low', 'med', 'high']);
/** The push-bombing window: PUSH_PER_USER_LIMIT requests per user per 10 minutes. */
export const PUSH_WINDOW_MS = 10 * 60 * 1000;

const invalid = (name: string, why: string) =>
  new AuthyError(400, AuthyCode.INVALID_PARAMETER, `Invalid parameter: ${name} ${why}`, { errors: { [name]: why }, reason: `${name} ${why}` });

const chars = (s: string) => Array.from(s).length;

function stringMap(p: ParamObject, name: string): Record<string, string> {
  const v: ParamValue | undefined = p[name];
  if (v === undefined || v === '') return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid(name, 'must be an object of strings');
  const entries = Object.entries(v);
  if (entries.length > MAX_DETAIL_KEYS) throw invalid(name, `must have at most ${MAX_DETAIL_KEYS} entries`);
  const out: Record<string, string> = {};
  for (const [k, x] of entries) {
    if (typeof x !== 'string') throw invalid(name, 'values must be strings');
    if (chars(k) < 1 || chars(k) > MAX_DETAIL_KEY_CHARS) throw invalid(name, 'has a key of the wrong length');
    if (chars(x) > MAX_DETAIL_VALUE_CHARS) throw invalid(name, 'has a value that is too long');
    out[k] = x;
  }
  return out;
}

function logos(p: ParamObject): Logo[] | null {
  const v = p['logos'];
  if (v === undefined || v === '') return null;
  if (typeof v !== 'object') throw invalid('logos', 'must be a list of {res, url}');
  const items = Array.isArray(v) ? v : Object.keys(v).every((k) => /^\d{1,2}$/.test(k)) ? Object.values(v) : undefined;
  if (!items) throw invalid('logos', 'must be a list of {res, url}');
  if (items.length > MAX_LOGOS) throw invalid('logos', `must have at most ${MAX_LOGOS} entries`);
  return items.map((item) => {
    if (!item || typeof item !== 'object' || Array.isArray(item)) throw invalid('logos', 'must be a list of {res, url}');
    const { res, url } = item;
    if (typeof res !== 'string' || !LOGO_RES.has(res)) throw invalid('logos', 'res must be default, low, med or high');
    if (typeof url !== 'string' || url.length > 500 || !/^https?:\/\//i.test(url) || !URL.canParse(url)) throw invalid('logos', 'url must be an http(s) URL');
    return { res, url };
  });
}

function secondsToExpire(p: ParamObject): number {
  const v = p['seconds_to_expire'];
  if (v === undefined || v === '') return DEFAULT_SECONDS_TO_EXPIRE;
  if (typeof v !== 'string' || !/^\d{1,9}$/.test(v.trim())) throw invalid('seconds_to_expire', 'must be an integer >= 0');
  const n = Number(v.trim());
  if (n > MAX_SECONDS_TO_EXPIRE) throw invalid('seconds_to_expire', `must be at most ${MAX_SECONDS_TO_EXPIRE}`);
  return n;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const PREFIX = '/onetouch/json';

/** `POST /onetouch/json/users/{id}/approval_requests` and `GET /onetouch/json/approval_requests/{uuid}`, as operations. */
export function oneTouchApi(p: OneTouchPlatform, deps: { directory: ServiceDirectory; approvals: Approvals; devices: Devices }): ApiRoute[] {
  const ops: ApiRoute[] = [];
  const pushLimit = () => p.config.PUSH_PER_USER_LIMIT;
  const limiter = p.limits.create({ name: 'onetouch:push:user', points: p.config.PUSH_PER_USER_LIMIT, durationSeconds: PUSH_WINDOW_MS / 1000 });

  ops.push({ method: 'POST', path: `${PREFIX}/users/:id/approval_requests`, format: 'authy', op: async (c) => {
    const app = c.app;
    const params = c.params;
    const message = param(params, 'message');
    if (message === undefined || message.trim() === '') throw invalid('message', 'is required');
    if (chars(message) > MAX_MESSAGE_CHARS) throw invalid('message', `must be at most ${MAX_MESSAGE_CHARS} characters`);
    const details = stringMap(params, 'details');
    const hiddenDetails = stringMap(params, 'hidden_details');
    const logoList = logos(params);
    const ttl = secondsToExpire(params);
    const numberMatching = isTruthy(param(params, 'number_matching'));

    const id = String(c.path['id']);
    const user = /^[1-9]\d{0,14}$/.test(id)
      ? await deps.directory.user(Number(id), app.id)
      : undefined;
    if (!user) throw new AuthyError(404, AuthyCode.USER_NOT_FOUND, 'User not found.', { reason: 'unknown user for app' });
    const active = await deps.devices.activeDevices(user.id);
    if (active.length === 0) {
      throw new AuthyError(404, AuthyCode.ONETOUCH_USER_UNREGISTERED, "User doesn't have OneTouch enabled", { reason: 'no active device' });
    }
    // Anti push-bombing: the budget is counted in the shared database, never per process.
    // Concurrent creations may each see the same count; the limiter in the shared store closes
    // that gap.
    const recent = await deps.approvals.countRecent(user.id, PUSH_WINDOW_MS);
    const allowed = recent < pushLimit() && (await limiter.consume(String(user.id))).allowed;
    if (!allowed) {
      throw new AuthyError(429, AuthyCode.TOO_MANY_REQUESTS, 'Too many approval requests for this user, try again later', {
        reason: 'push limit per user',
        headers: { 'Retry-After': String(PUSH_WINDOW_MS / 1000) },
      });
    }
    const created = await deps.approvals.create(
      { appId: app.id, userId: user.id, message, details, hiddenDetails, logos: logoList, secondsToExpire: ttl, numberMatching },
      { ip: c.ip ?? undefined },
    );
    const number = created.number === null ? {} : { number: created.number };
    return { body: { approval_request: { uuid: created.uuid, ...number }, ...number } };
  } });

  ops.push({ method: 'GET', path: `${PREFIX}/approval_requests/:uuid`, format: 'authy', op: async (c) => {
    const app = c.app;
    const uuid = String(c.path['uuid']);
    const notFound = () => new AuthyError(404, AuthyCode.APPROVAL_REQUEST_NOT_FOUND, 'Approval request not found', { reason: 'unknown uuid for app' });
    if (!/^[0-9a-f-]{36}$/.test(uuid)) throw notFound();
    const r = await deps.approvals.forApp(app.id, uuid);
    if (!r) throw notFound();
    return { body: {
      approval_request: {
        _app_name: r.app_name,
        _app_serial_id: r.app_id,
        _authy_id: r.user_id,
        _id: r.seq.toString(16).padStart(24, '0'),
        _user_email: r.user_email,
        app_id: String(r.app_id),
        created_at: iso(r.created_at),
        updated_at: iso(r.updated_at),
        processed_at: iso(r.processed_at),
        notified: true,
        seconds_to_expire: r.seconds_to_expire,
        status: r.status,
        user_id: String(r.user_id),
        uuid: r.uuid,
      },
    } };
  } });
  return ops;
}

/** The HTTP binding of `oneTouchApi`. */
export function oneTouchRouter(ops: ApiRoute[], appLookup: AppLookup, logger: Logger): Router {
  const router = Router();
  mountOps(router, PREFIX, ops, ...authyBodyParsers(), requireApiKey(appLookup));
  router.use(authyErrorHandler(logger));
  return router;
}
