import { createPublicKey, type KeyObject } from 'node:crypto';
import type { Request } from 'express';
import { clientNetwork } from '../../platform/client-network.js';
import { es256Verifies } from '../../platform/crypto.js';
import { DEVICE_HEADERS, requestSigningString, signingHeadersFault, type SigningHeaderValues } from '../../protocol/device.js';
import { bodyDigest } from '../../protocol/node-hash.js';
import type { V2Context } from './context.js';
import { TwilioError } from './errors.js';
import type { SignerRow } from './push-store.js';

/** Access tokens made for one entity (service and identity) per 10 minutes. */
export const TOKENS_PER_ENTITY = 10;
/** Refused device requests per client network per 10 minutes; then 429 until the window ends. */
export const PUSH_FAILURES_PER_NETWORK = 30;
/**
 * Signed requests one push factor may make per 10 minutes, 2 a second (the PWA reads its
 * challenges every 3 s while open: six tabs of it stay within); beyond, 429. Each stores its
 * nonce: this bounds the nonce table by factor, whatever the factor's own device sends.
 */
export const PUSH_REQUESTS_PER_FACTOR = 1200;
const SIGNATURE = /^[A-Za-z0-9_-]{86}$/;

/** The access token of `Authorization: Basic base64("token:<access token>")` (the Verify Push SDKs' shape), or undefined. */
export function accessTokenOf(req: Request): string | undefined {
  const h = req.headers.authorization;
  if (!h || !/^basic [A-Za-z0-9+/=]{1,512}$/i.test(h)) return undefined;
  const decoded = Buffer.from(h.slice(6), 'base64').toString('utf8');
  return decoded.startsWith('token:') ? decoded.slice(6) : undefined;
}

/** Whether a /v2 request comes from a device (signed by a push factor, or carrying an access token) rather than from an app. */
export function isDeviceRequest(req: Request): boolean {
  return req.get(DEVICE_HEADERS.device) !== undefined || accessTokenOf(req) !== undefined;
}

const networkOf = (req: Request) => `net:${clientNetwork(req.ip ?? 'unknown')}`;
const tooManyFailures = (retryAfter: number) => new TwilioError(429, 20429, 'Too Many Requests', { headers: { 'Retry-After': String(retryAfter) } });

/** Device requests whose network's failure point is held for them (taken on arrival, given back once they authenticate). */
const held = new WeakSet<Request>();

/**
 * Admit a device request: its network's failure budget is charged before any work (a lookup, an
 * ECDSA verification), so a burst of requests racing in at once cannot each find the budget unspent;
 * `deviceAuthenticated` gives the point back. A network that failed too often lately is refused.
 */
export async function admitDevice(c: V2Context, req: Request): Promise<void> {
  const net = networkOf(req);
  // A network already refused costs a read, not a write.
  const p = await c.pushFailures.peek(net);
  if (p.consumed >= PUSH_FAILURES_PER_NETWORK) throw tooManyFailures(p.retryAfterSeconds);
  const r = await c.pushFailures.consume(net);
  if (!r.allowed) throw tooManyFailures(r.retryAfterSeconds);
  held.add(req);
}

/** The request proved itself (a valid access token, a valid signature): its network's point is given back. */
export async function deviceAuthenticated(c: V2Context, req: Request): Promise<void> {
  if (held.delete(req)) await c.pushFailures.reward(networkOf(req));
}

/** A refused device request: counted against its network, answered 401 20003 (the reason goes to the log only). */
export async function deviceFailure(c: V2Context, req: Request, reason: string, status: 400 | 401 = 401): Promise<TwilioError> {
  // Counted on arrival already, unless it authenticated first (then it counts now).
  if (!held.delete(req)) await c.pushFailures.consume(networkOf(req));
  return status === 401 ? new TwilioError(401, 20003, 'Authenticate', { reason }) : new TwilioError(400, 60200, 'Invalid parameter `AuthPayload`', { reason });
}

/** Base64 SPKI DER of an EC P-256 public key, as a key; undefined for anything else. */
export function parseSpki(b64: string): KeyObject | undefined {
  if (!/^[A-Za-z0-9+/]{80,200}={0,2}$/.test(b64)) return undefined;
  try {
    const key = createPublicKey({ key: Buffer.from(b64, 'base64'), format: 'der', type: 'spki' });
    return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? key : undefined;
  } catch {
    return undefined;
  }
}

const keys = new Map<string, KeyObject>();

/** The factor's key (parsed once per process: a factor's key never changes). */
function keyOf(factorSid: string, spki: string): KeyObject {
  let k = keys.get(factorSid);
  if (!k) {
    k = parseSpki(spki)!;
    if (keys.size > 10_000) keys.clear();
    keys.set(factorSid, k);
  }
  return k;
}

/** Whether `signature` (base64url of the 64-byte IEEE P1363 r‖s) is the factor key's ES256 signature of `data`. */
export function signedBy(f: { sid: string; public_key: string | null }, data: string, signature: string): boolean {
  return f.public_key !== null && SIGNATURE.test(signature) && es256Verifies(keyOf(f.sid, f.public_key), data, signature);
}

/**
 * Authenticate a request signed by a push factor (the device API's signed-request headers, the
 * factor SID in `X-Twofold-Device`): timestamp within ±60 s, the factor's signature over method,
 * path, body digest, timestamp and nonce, the nonce unused, and the factor one of the entity the
 * path names. Every failure is the same counted 401.
 */
export async function authenticateFactor(c: V2Context, req: Request, raw: Buffer | undefined): Promise<SignerRow> {
  const h = { device: req.get(DEVICE_HEADERS.device), timestamp: req.get(DEVICE_HEADERS.timestamp), nonce: req.get(DEVICE_HEADERS.nonce), signature: req.get(DEVICE_HEADERS.signature) };
  const fail = (reason: string) => deviceFailure(c, req, reason).then((e) => Promise.reject(e));
  const fault = signingHeadersFault(h, c.clock.now());
  if (fault) return fail(fault);
  // Present, as signingHeadersFault checked.
  const { device: factorSid, timestamp, nonce, signature } = h as SigningHeaderValues;
  const s = await c.push.signer(factorSid);
  if (!s) return fail('unknown factor');
  if (s.entity.service_sid !== String(req.params['sid']) || s.entity.identity !== String(req.params['identity'])) return fail('factor of another entity');
  const data = requestSigningString({ method: req.method, path: req.originalUrl, bodyDigest: bodyDigest(raw), timestamp, nonce });
  if (!signedBy(s.factor, data, signature)) return fail('bad signature');
  // Only signed requests reach the nonce table, so nobody else can fill it, and its own factor
  // only so many times (counted after the signature: nobody else can spend a factor's budget).
  const budget = await c.pushRequests.consume(s.factor.sid);
  if (!budget.allowed) {
    // Its own signature: not a failure of its network (other devices there keep working).
    await deviceAuthenticated(c, req);
    throw tooManyFailures(budget.retryAfterSeconds);
  }
  if (!(await c.push.claimNonce(s.factor.sid, nonce))) return fail('replayed nonce');
  await deviceAuthenticated(c, req);
  return s;
}
