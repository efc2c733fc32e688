/** docs/device-api.md: the device side of Twofold's protocol, with WebCrypto. */
import { approvalSigningString, canonicalJson, DEVICE_HEADERS, DeviceApiError, detailsPayload, requestSigningString, type ApprovalForDevice } from '../../src/protocol/device.js';
import { SseParser, type SseMessage } from '../../src/protocol/sse.js';
import type { DeviceState } from './store.js';

/** The shared protocol as the PWA bundles it (the Chromium known-answer test loads these from here). */
export { approvalSigningString, canonicalJson, DeviceApiError, detailsPayload, requestSigningString, SseParser, type ApprovalForDevice };

/** Hex SHA-256 (WebCrypto) of the canonical JSON of `{ message, details }`: what an answer signs. */
export async function detailsHash(message: string, details: Record<string, string>): Promise<string> {
  return sha256Hex(detailsPayload(message, details));
}

const enc = new TextEncoder();

export function base64url(bytes: ArrayBuffer | Uint8Array): string {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export async function sha256Hex(text: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', enc.encode(text)));
  return Array.from(d, (x) => x.toString(16).padStart(2, '0')).join('');
}

export async function signText(key: CryptoKey, text: string): Promise<string> {
  // WebCrypto's ECDSA signature is already IEEE P1363 (r‖s), as the protocol wants.
  return base64url(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key, enc.encode(text)));
}

export function randomNonce(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(18)));
}

/** Server clock minus ours, learnt from the Date header of a refused request. */
let skewSeconds = 0;

/** Unix seconds by the service's clock, as far as it was learnt: what a signed request's timestamp says. */
export const serviceNow = (): number => Math.floor(Date.now() / 1000) + skewSeconds;

/**
 * After a refused (401) signed request: when its Date header shows our clock far off, learn the
 * offset and say so (the caller retries once); else false.
 */
export function learnSkew(res: Response): boolean {
  const date = Date.parse(res.headers.get('date') ?? '');
  if (res.status !== 401 || !Number.isFinite(date) || Math.abs(date / 1000 - Date.now() / 1000) <= 30) return false;
  skewSeconds = Math.round(date / 1000 - Date.now() / 1000);
  return true;
}

/** The four signing headers of a request (docs/device-api.md "Signed requests"), `id` in `X-Twofold-Device`: an authenticator device's or a Verify push factor's. */
export async function signedHeaders(key: CryptoKey, id: string, method: string, path: string, raw: string): Promise<Record<string, string>> {
  const ts = String(serviceNow());
  const nonce = randomNonce();
  const bodyHash = raw ? await sha256Hex(raw) : '';
  const signature = await signText(key, requestSigningString({ method, path, bodyDigest: bodyHash, timestamp: ts, nonce }));
  return { [DEVICE_HEADERS.device]: id, [DEVICE_HEADERS.timestamp]: ts, [DEVICE_HEADERS.nonce]: nonce, [DEVICE_HEADERS.signature]: signature };
}

/**
 * Send a signed request (headers made anew for each try by `sign`). A clock far off makes every
 * request fail: the offset is learned from the first answer and the request tried once more.
 */
export async function fetchSigned(url: string, sign: () => Promise<Record<string, string>>, init: RequestInit & { headers?: Record<string, string> }): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(url, { ...init, headers: { ...(await sign()), ...init.headers } });
    if (attempt === 0 && learnSkew(res)) continue;
    return res;
  }
}

function base(d: { serviceUrl: string }): string {
  // Same origin when the service serves the PWA (embedded default); else its own URL.
  try {
    return new URL(d.serviceUrl).origin === location.origin ? '' : d.serviceUrl.replace(/\/+$/, '');
  } catch {
    return '';
  }
}

/** A refusal as an error: the body's `code` (the device API's word, or Twilio's number) and `message`, else the HTTP status. */
export async function readError(res: Response): Promise<DeviceApiError> {
  let body: { code?: unknown; message?: unknown } = {};
  try {
    body = (await res.json()) as typeof body;
  } catch {
    /* not JSON */
  }
  const code = body.code === undefined || body.code === null ? `HTTP_${res.status}` : String(body.code);
  return new DeviceApiError(res.status, code, typeof body.message === 'string' ? body.message : `Request failed (${res.status})`);
}

export async function signedFetch(d: DeviceState, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown, extra: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
  const raw = body === undefined ? '' : JSON.stringify(body);
  return fetchSigned(base(d) + path, () => signedHeaders(d.keyPair.privateKey, d.deviceId, method, path, raw), {
    method,
    headers: { ...(raw ? { 'content-type': 'application/json' } : {}), ...extra },
    ...(raw ? { body: raw } : {}),
    cache: 'no-store',
    ...(signal ? { signal } : {}),
  });
}

export interface ActivationResult {
  device: { id: string; name: string };
  user: { authy_id: number; email_hint: string };
  totp: DeviceState['totp'];
  service_url: string;
}

/** Generate the device key (private part non-extractable) and activate with the link's token. */
export async function activate(token: string, name: string): Promise<DeviceState> {
  const keyPair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const jwk = await crypto.subtle.exportKey('jwk', keyPair.publicKey);
  const res = await fetch('/v1/devices/activate', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, name, public_key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } }),
  });
  if (res.status !== 201) throw await readError(res);
  const r = (await res.json()) as ActivationResult;
  return {
    deviceId: r.device.id,
    name: r.device.name,
    serviceUrl: r.service_url,
    userHint: r.user.email_hint,
    appName: r.totp.issuer,
    totp: r.totp,
    keyPair,
  };
}

export async function answer(d: DeviceState, req: ApprovalForDevice, decision: 'approve' | 'deny', number: string | null): Promise<string> {
  const hash = await detailsHash(req.message, req.details);
  const signature = await signText(d.keyPair.privateKey, approvalSigningString({ uuid: req.uuid, decision, number, detailsHash: hash }));
  const res = await signedFetch(d, 'POST', `/v1/devices/${d.deviceId}/approval_requests/${req.uuid}/response`, {
    decision,
    number,
    details_hash: hash,
    signature,
  });
  if (!res.ok) throw await readError(res);
  const body = (await res.json()) as { approval_request: { status: string } };
  return body.approval_request.status;
}

export type StreamEvent =
  | { type: 'approval_request'; id: string | undefined; request: ApprovalForDevice }
  | { type: 'approval_request_closed'; uuid: string; status: string }
  | { type: 'connected' }
  | { type: 'disconnected'; error: string };

/**
 * The pending-request stream: a signed `fetch` with a streaming body (EventSource cannot sign),
 * reconnecting with Last-Event-ID and a growing back-off. Returns a stop function.
 */
export function streamEvents(d: DeviceState, onEvent: (e: StreamEvent) => void, getLastId: () => string | undefined): () => void {
  let stopped = false;
  let ctrl: AbortController | undefined;
  let backoff = 1000;
  const path = `/v1/devices/${d.deviceId}/events`;

  const run = async () => {
    while (!stopped) {
      ctrl = new AbortController();
      try {
        const last = getLastId();
        const res = await signedFetch(d, 'GET', path, undefined, { accept: 'text/event-stream', ...(last ? { 'Last-Event-ID': last } : {}) }, ctrl.signal);
        if (!res.ok || !res.body) throw await readError(res);
        onEvent({ type: 'connected' });
        backoff = 1000;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        const parser = new SseParser();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const m of parser.push(value)) dispatch(m);
        }
        throw new Error('stream ended');
      } catch (err) {
        if (stopped) return;
        onEvent({ type: 'disconnected', error: err instanceof Error ? err.message : 'connection lost' });
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 15_000);
      }
    }
  };

  const dispatch = ({ event, data, id }: SseMessage) => {
    try {
      const payload = JSON.parse(data) as unknown;
      if (event === 'approval_request') onEvent({ type: 'approval_request', id, request: payload as ApprovalForDevice });
      else if (event === 'approval_request_closed') {
        const p = payload as { uuid: string; status: string };
        onEvent({ type: 'approval_request_closed', uuid: p.uuid, status: p.status });
      }
    } catch {
      /* ignore a malformed event */
    }
  };

  void run();
  return () => {
    stopped = true;
    ctrl?.abort();
  };
}

/** The pending requests (newest first), e.g. to find the one a notification pointed at. */
export async function pendingRequests(d: DeviceState): Promise<ApprovalForDevice[]> {
  const res = await signedFetch(d, 'GET', `/v1/devices/${d.deviceId}/approval_requests`);
  if (!res.ok) throw await readError(res);
  return ((await res.json()) as { approval_requests: ApprovalForDevice[] }).approval_requests;
}

/** The service's VAPID public key (raw P-256 point), the `applicationServerKey` to subscribe with. */
export async function vapidPublicKey(d: { serviceUrl: string }): Promise<Uint8Array<ArrayBuffer>> {
  const res = await fetch(`${base(d)}/v1/push/vapid-public-key`, { cache: 'no-store' });
  if (!res.ok) throw await readError(res);
  const { key } = (await res.json()) as { key: string };
  const bin = atob(key.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (key.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** Register this browser's push subscription for the device (replaces any earlier one). */
export async function savePushSubscription(d: DeviceState, subscription: PushSubscriptionJSON): Promise<void> {
  const { endpoint, keys } = subscription;
  const res = await signedFetch(d, 'PUT', `/v1/devices/${d.deviceId}/push-subscription`, { endpoint, keys: { p256dh: keys?.['p256dh'], auth: keys?.['auth'] } });
  if (!res.ok) throw await readError(res);
}

export async function deletePushSubscription(d: DeviceState): Promise<void> {
  const res = await signedFetch(d, 'DELETE', `/v1/devices/${d.deviceId}/push-subscription`);
  if (!res.ok) throw await readError(res);
}
