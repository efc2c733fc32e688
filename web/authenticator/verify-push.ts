/**
 * The PWA as the Verify Push SDK (docs/verify-v2.md "Push factors"), with WebCrypto: a P-256 key
 * made here per factor (private part non-extractable), the factor created with the app's access
 * token and verified by a signature, then its challenges read and answered with requests signed by
 * that key. The strings signed are the service's (src/protocol/verify-push.ts, ./device.ts); the
 * CLI's twin is src/authenticator/verify-push.ts.
 */
import { DeviceApiError } from '../../src/protocol/device.js';
import { pushChallengeSigningString, pushDetailsPayload, pushFactorProofString, type PushDecision, type PushDetails } from '../../src/protocol/verify-push.js';
import { fetchSigned, readError, sha256Hex, signText, signedHeaders } from './protocol.js';
import type { VerifyPushFactor } from './store.js';

export { DeviceApiError, type PushDecision, type PushDetails };

/** A challenge as the device is shown it (no hidden details). */
export interface PushChallenge {
  sid: string;
  factor_sid: string;
  status: string;
  details: Partial<PushDetails>;
  expiration_date: string;
  date_created: string;
}

/** What an enrolment link or the form carries: the app's service, its user's identity, the access token, a name. */
export interface PushEnrolment {
  serviceSid: string;
  identity: string;
  token: string;
  name: string;
}

export const SDK_VERSION = 'twofold-pwa-1';
export const APP_ID = 'dev.twofold.authenticator.pwa';
const SERVICE_SID = /^VA[0-9a-f]{32}$/;
/** The service's rule for identities (8–64 dash-separated letters and digits). */
const IDENTITY = /^(?=.{8,64}$)[A-Za-z0-9]+(-[A-Za-z0-9]+)*$/;
const TOKEN = /^[A-Za-z0-9_-]{16,256}$/;
const FORM = 'application/x-www-form-urlencoded';

/** Why enrolment input was refused, in words for the user. */
export class EnrolmentInputError extends Error {
  override name = 'EnrolmentInputError';
}

/**
 * Check the enrolment fields (whitespace trimmed). The name is optional (`fallbackName` then); the
 * access token's own name, when the app gave it one, wins at the service.
 */
export function enrolmentOf(o: { service?: string | null; identity?: string | null; token?: string | null; name?: string | null }, fallbackName: string): PushEnrolment {
  const serviceSid = (o.service ?? '').trim();
  const identity = (o.identity ?? '').trim();
  const token = (o.token ?? '').trim();
  const name = (o.name ?? '').trim().slice(0, 64) || fallbackName;
  if (!SERVICE_SID.test(serviceSid)) throw new EnrolmentInputError('The service SID is VA followed by 32 hexadecimal characters.');
  if (!IDENTITY.test(identity)) throw new EnrolmentInputError('The identity is 8 to 64 letters and digits, with single dashes between them.');
  if (!TOKEN.test(token)) throw new EnrolmentInputError('The access token is missing or malformed: ask the app for a new link.');
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) throw new EnrolmentInputError('The name cannot contain control characters.');
  return { serviceSid, identity, token, name };
}

/**
 * The enrolment link's fields: `https://<twofold>/authenticator/#verify-push?service=VA…&identity=…&token=…&name=…`
 * (the fragment keeps the token out of every server log). Null when `text` is not such a link;
 * EnrolmentInputError when it is one for another origin (this PWA reaches its own service only).
 */
export function enrolmentLinkFields(text: string): Record<'service' | 'identity' | 'token' | 'name', string | null> | null {
  let url: URL;
  try {
    url = new URL(text.trim(), location.href);
  } catch {
    return null;
  }
  const m = /^#verify-push\?(.*)$/s.exec(url.hash);
  if (!m) return null;
  if (url.origin !== location.origin) throw new EnrolmentInputError(`This link is for the Twofold service at ${url.origin}: open it there.`);
  const q = new URLSearchParams(m[1]);
  return { service: q.get('service'), identity: q.get('identity'), token: q.get('token'), name: q.get('name') };
}

/** A refusal as Verify words it: `{ code, message, status }`. */
const entityPath = (serviceSid: string, identity: string) => `/v2/Services/${encodeURIComponent(serviceSid)}/Entities/${encodeURIComponent(identity)}`;

/**
 * Enrolment's first half: make the key pair here and create the (unverified) push factor with the
 * access token (HTTP Basic `token:<token>`). The caller stores the result at once, then verifies.
 */
export async function createPushFactor(e: PushEnrolment): Promise<VerifyPushFactor> {
  const keyPair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  // Only the public key is exported: base64 (not url) SPKI DER, as Binding.PublicKey is.
  const spki = btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.exportKey('spki', keyPair.publicKey))));
  const res = await fetch(`${entityPath(e.serviceSid, e.identity)}/Factors`, {
    method: 'POST',
    headers: { authorization: `Basic ${btoa(`token:${e.token}`)}`, 'content-type': FORM },
    body: new URLSearchParams({
      FactorType: 'push',
      FriendlyName: e.name,
      'Binding.Alg': 'ES256',
      'Binding.PublicKey': spki,
      'Config.SdkVersion': SDK_VERSION,
      'Config.AppId': APP_ID,
      'Config.NotificationPlatform': 'none',
    }).toString(),
    cache: 'no-store',
    // No cookies, and no browser password prompt on a 401.
    credentials: 'omit',
  });
  if (res.status !== 201) throw await readError(res);
  const f = (await res.json()) as { sid: string; friendly_name: string; status: string };
  return { factorSid: f.sid, serviceSid: e.serviceSid, identity: e.identity, friendlyName: f.friendly_name, status: f.status, serviceUrl: location.origin, createdAt: Date.now(), keyPair };
}

/** A request under the factor's entity (`path` e.g. `/Challenges?…`), signed as the device API signs, with a form body. */
async function signedRequest(f: VerifyPushFactor, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, form?: Record<string, string>): Promise<Response> {
  const target = `${entityPath(f.serviceSid, f.identity)}${path}`;
  const body = form === undefined ? '' : new URLSearchParams(form).toString();
  return fetchSigned(target, () => signedHeaders(f.keyPair.privateKey, f.factorSid, method, target, body), {
    method,
    headers: body ? { 'content-type': FORM } : {},
    ...(body ? { body } : {}),
    cache: 'no-store',
    credentials: 'omit',
  });
}

async function okJson<T>(res: Response): Promise<T> {
  if (!res.ok) throw await readError(res);
  return (await res.json()) as T;
}

/** Prove the key: `AuthPayload` signs the factor's proof string. Resolves with the factor's status. */
export async function verifyPushFactor(f: VerifyPushFactor): Promise<string> {
  const proof = await signText(f.keyPair.privateKey, pushFactorProofString({ serviceSid: f.serviceSid, identity: f.identity, factorSid: f.factorSid }));
  return (await okJson<{ status: string }>(await signedRequest(f, 'POST', `/Factors/${f.factorSid}`, { AuthPayload: proof }))).status;
}

/** The factor's pending challenges. */
export async function pendingChallenges(f: VerifyPushFactor): Promise<PushChallenge[]> {
  const q = new URLSearchParams({ FactorSid: f.factorSid, Status: 'pending' });
  return (await okJson<{ challenges: PushChallenge[] }>(await signedRequest(f, 'GET', `/Challenges?${q.toString()}`))).challenges;
}

/** Hex SHA-256 of the details as shown (the service hashes the same canonical JSON of the stored ones). */
export function pushDetailsHash(d: Partial<PushDetails>): Promise<string> {
  return sha256Hex(pushDetailsPayload({ message: d.message ?? null, fields: d.fields ?? [] }));
}

/** Answer a challenge this page showed: the signature covers its details as shown. Resolves with its new status. */
export async function answerChallenge(f: VerifyPushFactor, ch: PushChallenge, status: PushDecision): Promise<string> {
  const detailsHash = await pushDetailsHash(ch.details);
  const proof = await signText(f.keyPair.privateKey, pushChallengeSigningString({ challengeSid: ch.sid, factorSid: f.factorSid, status, detailsHash }));
  return (await okJson<{ status: string }>(await signedRequest(f, 'POST', `/Challenges/${encodeURIComponent(ch.sid)}`, { Status: status, AuthPayload: proof }))).status;
}

/**
 * Register this browser's Web Push subscription for the factor (a Twofold extension,
 * docs/verify-v2.md "Notifications"): a new challenge then wakes the service worker.
 */
export async function savePushFactorSubscription(f: VerifyPushFactor, sub: PushSubscriptionJSON): Promise<void> {
  const subscription = JSON.stringify({ endpoint: sub.endpoint, keys: { p256dh: sub.keys?.['p256dh'], auth: sub.keys?.['auth'] } });
  await okJson<unknown>(await signedRequest(f, 'PUT', `/Factors/${f.factorSid}/PushSubscription`, { Subscription: subscription }));
}

/** Stop Web Push for the factor (notifications turned off in this browser). */
export async function deletePushFactorSubscription(f: VerifyPushFactor): Promise<void> {
  const res = await signedRequest(f, 'DELETE', `/Factors/${f.factorSid}/PushSubscription`);
  if (!res.ok && res.status !== 404) throw await readError(res);
}
