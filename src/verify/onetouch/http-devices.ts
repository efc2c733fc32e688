import express, { Router, type Request, type RequestHandler } from 'express';
import * as z from 'zod';
import type { OneTouchPlatform } from '../schema-onetouch.js';
import { HttpError } from '../../platform/errors.js';
import { boundedJson, JSON_MAX_DEPTH, JSON_MAX_ITEMS, jsonWithinBudget } from '../../platform/http.js';
import { jsonErrorHandler } from '../../platform/http.js';
import { mountOps, type ApiRoute } from '../api.js';
import { findApp, type AppLookup, type AuthenticatedApp } from '../authy-http.js';
import { assertUuid, type Approvals } from './approvals.js';
import { isRefusal, type AuthenticatedDevice, type DeviceRefusal, type Devices, MAX_DEVICES_PER_USER } from './devices.js';
import { DeviceApiCode, deviceAuthFailed, invalidDeviceApiKey, invalidRequest, notFound } from './errors.js';
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
export function unwrap<T>(x: T | DeviceRefusal): T {
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
  deps: { appLookup: AppLookup; appOps: ApiRoute[]; devices: Devices; approvals: Approvals; streams: DeviceStreams; pushSubscriptions: PushSubscriptions },
): Router {
  const router = Router();
  const { devices, approvals } = deps;
  const json = boundedJson({ limit: '16kb', type: () => true });
  const raw = express.raw({ limit: '16kb', type: () => true });
  const ctx = (req: Request) => ({ ip: req.ip, userAgent: req.get('user-agent') });

  const requireApp: RequestHandler = async (req, _res, next) => {
    const app = await findApp(deps.appLookup, req.get('x-authy-api-key'));
    if (!app) throw invalidDeviceApiKey();
    req.deviceApiApp = app;
    next();
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

  // App side (API key): the operations of `app-devices-api.ts`.
  mountOps(router, '/v1', deps.appOps, requireApp, json);

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
