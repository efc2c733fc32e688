import express, { Router, type Request, type RequestHandler } from 'express';
import { z } from 'zod';
import { AuditType } from '../../platform/audit.js';
import type { OneTouchPlatform } from '../schema-onetouch.js';
import { HttpError } from '../../platform/errors.js';
import { boundedJson, JSON_MAX_DEPTH, JSON_MAX_ITEMS, jsonWithinBudget } from '../../platform/http.js';
import { jsonErrorHandler } from '../../platform/http.js';
import { hashApiKey, type AppLookup, type AuthenticatedApp } from '../authy-http.js';
import { LEGACY_SECRET_ID, type ServiceDirectory, type TotpSecretStore } from '../ports.js';
import { assertUuid, type Approvals } from './approvals.js';
import { isRefusal, type AuthenticatedDevice, type DeviceRefusal, type Devices, MAX_DEVICES_PER_USER } from './devices.js';
import { DeviceApiCode, deviceAuthFailed, invalidRequest, notFound } from './errors.js';
import { DEVICE_HEADERS } from '../../protocol/device.js';
import { bodyDigest } from '../../protocol/node-hash.js';
import { parseSubscription } from './http-push-subscription.js';
import type { PushSubscriptions } from './push-subscriptions.js';
import type { DeviceStreams } from './stream.js';

declare module 'express-serve-static-core' {
  interface Request {
    device?: AuthenticatedDevice;
    deviceApiApp?: AuthenticatedApp;
  }
}

const answerSchema = z.object({
  decision: z.enum(['approve', 'deny']),
  number: z
    .string()
    .regex(/^\d{2}$/)
    .nullable()
    .optional(),
  details_hash: z.string().regex(/^[0-9a-f]{64}$/),
  signature: z.string().regex(/^[A-Za-z0-9_-]{80,90}$/),
});

const activationRequestSchema = z.object({ name: z.string().trim().min(1).max(64).optional() }).strict();

const activateSchema = z.object({
  token: z.string().min(1).max(200),
  name: z
    .string()
    .trim()
    .min(1)
    .max(64)
    .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'control characters are not allowed'),
  public_key: z.unknown(),
});

/** The devices domain's refusals as the device API answers them (docs/device-api.md). */
function toHttp(r: DeviceRefusal): HttpError {
  switch (r.refused) {
    case 'invalid_public_key':
      return new HttpError(400, DeviceApiCode.INVALID_PUBLIC_KEY, 'public_key must be an EC P-256 public JWK', { reason: r.reason });
    case 'activation_invalid':
      return new HttpError(410, DeviceApiCode.ACTIVATION_INVALID, 'Activation link is invalid or expired', { reason: r.reason });
    case 'too_many_devices':
      return new HttpError(409, DeviceApiCode.TOO_MANY_DEVICES, `This account already has ${MAX_DEVICES_PER_USER} authenticators; remove one before adding another`, { reason: r.reason });
    case 'not_found':
      return notFound(r.reason);
    case 'auth_failed':
      return deviceAuthFailed(r.reason);
  }
}

/** The value, or the refusal thrown as its HTTP error. */
function unwrap<T>(x: T | DeviceRefusal): T {
  if (isRefusal(x)) throw toHttp(x);
  return x;
}

function parseJsonBody(raw: unknown): unknown {
  if (!Buffer.isBuffer(raw) || raw.length === 0) throw invalidRequest('a JSON body is required');
  if (!jsonWithinBudget(raw)) throw new HttpError(400, 'BODY_TOO_COMPLEX', `Request body is nested deeper than ${JSON_MAX_DEPTH} levels or holds more than ${JSON_MAX_ITEMS} values`);
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'MALFORMED_BODY', 'Request body is not valid JSON');
  }
}

/** The device API (docs/device-api.md), mounted at `/v1`. */
export function deviceApiRouter(
  p: OneTouchPlatform,
  deps: { appLookup: AppLookup; directory: ServiceDirectory; devices: Devices; approvals: Approvals; streams: DeviceStreams; pushSubscriptions: PushSubscriptions; totp: TotpSecretStore },
): Router {
  const router = Router();
  const { devices, approvals } = deps;
  const json = boundedJson({ limit: '16kb', type: () => true });
  const raw = express.raw({ limit: '16kb', type: () => true });
  const ctx = (req: Request) => ({ ip: req.ip, userAgent: req.get('user-agent') });

  const requireApp: RequestHandler = async (req, _res, next) => {
    const key = req.get('x-authy-api-key');
    const app = key && key.length <= 200 ? await deps.appLookup(hashApiKey(key)) : undefined;
    if (!app) throw new HttpError(401, DeviceApiCode.INVALID_API_KEY, 'Invalid API key', { reason: 'unknown or missing API key' });
    req.deviceApiApp = app;
    next();
  };

  const appUser = async (req: Request): Promise<number> => {
    const id = String(req.params['authy_id']);
    const user = /^[1-9]\d{0,14}$/.test(id)
      ? await deps.directory.user(Number(id), req.deviceApiApp!.id)
      : undefined;
    if (!user) throw notFound('unknown user for app');
    return user.id;
  };

  const requireDevice: RequestHandler = async (req, _res, next) => {
    const device = await devices.authenticate({
      headers: {
        device: req.get(DEVICE_HEADERS.device),
        timestamp: req.get(DEVICE_HEADERS.timestamp),
        nonce: req.get(DEVICE_HEADERS.nonce),
        signature: req.get(DEVICE_HEADERS.signature),
      },
      method: req.method,
      path: req.originalUrl,
      bodyDigest: bodyDigest(Buffer.isBuffer(req.body) ? req.body : undefined),
    });
    if (isRefusal(device)) throw toHttp(device);
    // A device may only act on its own id.
    if (req.params['id'] !== device.id) throw deviceAuthFailed('device id in path differs');
    req.device = device;
    next();
  };

  // App side (API key).
  router.post('/users/:authy_id/activations', requireApp, json, async (req, res) => {
    const userId = await appUser(req);
    const body = activationRequestSchema.safeParse(req.body ?? {});
    if (!body.success) throw invalidRequest('name must be a string of 1-64 characters');
    const activation = unwrap(await devices.createActivation(userId, body.data.name ?? null));
    res.status(201).json({ activation });
  });

  router.get('/users/:authy_id/devices', requireApp, async (req, res) => {
    const userId = await appUser(req);
    res.json({ devices: await devices.list(userId) });
  });

  router.delete('/users/:authy_id/devices/:device_id', requireApp, async (req, res) => {
    const userId = await appUser(req);
    const deviceId = String(req.params['device_id']);
    if (!/^[0-9a-f-]{36}$/.test(deviceId)) throw notFound('malformed device id');
    res.json(unwrap(await devices.revoke(userId, deviceId, ctx(req))));
  });

  // The second-factor lockouts the service recorded for a user, newest first (Twofold extension,
  // docs/authy-compat.md): an app shows them to its user without reading the service's tables.
  router.get('/users/:authy_id/lockouts', requireApp, async (req, res) => {
    const userId = await appUser(req);
    const rows = await p.db.db
      .selectFrom('audit_events')
      .select(['id', 'at'])
      .where('user_ref', '=', `authy:${userId}`)
      .where('type', '=', AuditType.LOCKOUT)
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(20)
      .execute();
    res.json({ lockouts: rows.map((r) => ({ id: r.id, at: r.at })) });
  });

  // Third-party TOTP apps of a user (Twofold extension, docs/authy-compat.md): never the secret.
  router.get('/users/:authy_id/totp-apps', requireApp, async (req, res) => {
    const userId = await appUser(req);
    res.json({ totp_apps: await deps.totp.listApps(userId) });
  });

  router.delete('/users/:authy_id/totp-apps/:id', requireApp, async (req, res) => {
    const userId = await appUser(req);
    const id = String(req.params['id']);
    if (id !== LEGACY_SECRET_ID && !/^[0-9a-f-]{36}$/.test(id)) throw notFound('malformed TOTP app id');
    if (!(await deps.totp.removeApp(userId, id, ctx(req)))) throw notFound('TOTP app not found for user');
    res.json({ removed: id });
  });

  // Device side.
  router.post('/devices/activate', json, async (req, res) => {
    const parsed = activateSchema.safeParse(req.body);
    if (!parsed.success) {
      const onlyKey = parsed.error.issues.every((i) => i.path[0] === 'public_key');
      throw onlyKey ? toHttp({ refused: 'invalid_public_key', reason: 'public_key missing' }) : invalidRequest('token, name (1-64 chars) and public_key are required');
    }
    res.status(201).json(unwrap(await devices.activate({ token: parsed.data.token, name: parsed.data.name, publicKey: parsed.data.public_key }, ctx(req))));
  });

  router.get('/devices/:id', raw, requireDevice, async (req, res) => {
    res.json(unwrap(await devices.describe(req.device!)));
  });

  router.get('/devices/:id/approval_requests', raw, requireDevice, async (req, res) => {
    res.json({ approval_requests: await approvals.pendingForUser(req.device!.userId) });
  });

  router.get('/devices/:id/events', raw, requireDevice, async (req, res) => {
    await deps.streams.serve(req, res, req.device!);
  });

  router.post('/devices/:id/approval_requests/:uuid/response', raw, requireDevice, async (req, res) => {
    const uuid = String(req.params['uuid']);
    assertUuid(uuid);
    const parsed = answerSchema.safeParse(parseJsonBody(req.body));
    if (!parsed.success) throw invalidRequest('decision, number, details_hash and signature are required');
    const b = parsed.data;
    const result = await approvals.answer(
      req.device!,
      uuid,
      { decision: b.decision, number: b.number ?? null, detailsHash: b.details_hash, signature: b.signature },
      ctx(req),
    );
    res.json(result);
  });

  // Web Push: the key the PWA subscribes with (public), and the device's own subscription.
  router.get('/push/vapid-public-key', (_req, res) => {
    res.setHeader('Cache-Control', 'no-cache');
    res.json({ key: p.config.vapid.publicKey });
  });

  router.put('/devices/:id/push-subscription', raw, requireDevice, async (req, res) => {
    const subscription = parseSubscription(parseJsonBody(req.body), { production: p.config.production });
    res.json({ push_subscription: await deps.pushSubscriptions.save(req.device!, subscription) });
  });

  router.delete('/devices/:id/push-subscription', raw, requireDevice, async (req, res) => {
    res.json({ push_subscription: { device_id: req.device!.id, deleted: await deps.pushSubscriptions.remove(req.device!.id) } });
  });

  router.use(jsonErrorHandler(p.logger));
  return router;
}
