import { generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import * as OTPAuth from 'otpauth';
import { approvalSigningString, DeviceApiError, type ApprovalForDevice, type Decision } from '../protocol/device.js';

export { DeviceApiError, type ApprovalForDevice };
import { detailsHash } from '../protocol/node-hash.js';
import { SseParser } from '../protocol/sse.js';
import { RequestSigner, refusalOf } from './signer.js';

/** What an authenticator keeps between runs (the CLI stores it in a 0600 JSON file). */
export interface DeviceState {
  service_url: string;
  device_id: string;
  name: string;
  /** EC P-256 private key as a JWK; never leaves the device. */
  private_key: JsonWebKey;
  user: { authy_id: number; email_hint: string };
  totp: { secret: string; digits: number; period: number; algorithm: string; issuer: string; label: string };
}

export type DeviceEvent =
  | { type: 'approval_request'; id: string | undefined; request: ApprovalForDevice }
  | { type: 'approval_request_closed'; uuid: string; status: string };

/** Split an activation link `<service>/authenticator/#activate=<token>` into service URL and token. */
export function parseActivationLink(link: string): { serviceUrl: string; token: string } {
  const m = /#activate=([A-Za-z0-9_-]+)$/.exec(link.trim());
  if (!m) throw new Error('not an activation link (expected …/authenticator/#activate=<token>)');
  const url = new URL(link.trim());
  const i = url.pathname.indexOf('/authenticator/');
  const prefix = i >= 0 ? url.pathname.slice(0, i) : '';
  return { serviceUrl: `${url.origin}${prefix}`, token: m[1]! };
}

/** Generate a key pair on this device and redeem the activation link. */
export async function activateDevice(link: string, o: { name: string; serviceUrl?: string }): Promise<DeviceState> {
  const parsed = parseActivationLink(link);
  const serviceUrl = (o.serviceUrl ?? parsed.serviceUrl).replace(/\/+$/, '');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pub = publicKey.export({ format: 'jwk' });
  const res = await fetch(`${serviceUrl}/v1/devices/activate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: parsed.token, name: o.name, public_key: { kty: pub.kty, crv: pub.crv, x: pub.x, y: pub.y } }),
  });
  if (res.status !== 201) throw await refusalOf(res);
  const b = (await res.json()) as { device: { id: string; name: string }; user: DeviceState['user']; totp: DeviceState['totp'] };
  return {
    service_url: serviceUrl,
    device_id: b.device.id,
    name: b.device.name,
    private_key: privateKey.export({ format: 'jwk' }),
    user: b.user,
    totp: b.totp,
  };
}

/** The device side of the protocol: signed requests, the pending list, answers, events, codes. */
export class DeviceClient {
  private readonly signer: RequestSigner;

  constructor(readonly state: DeviceState) {
    this.signer = new RequestSigner(state.private_key, state.device_id);
  }

  private sign(data: string): string {
    return this.signer.sign(data);
  }

  /** The four signing headers for a request (exposed for tests that tamper with them). */
  signedHeaders(method: string, path: string, body: string | undefined, o: { timestamp?: number; nonce?: string } = {}): Record<string, string> {
    return this.signer.headers(method, path, body, o);
  }

  /** A signed request to `path` (relative to the service, e.g. `/v1/devices/<id>`). */
  async request(method: string, path: string, body?: unknown, extra: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const url = new URL(`${this.state.service_url}${path}`);
    const headers: Record<string, string> = { ...this.signedHeaders(method, url.pathname + url.search, text), ...extra };
    if (text !== undefined) headers['content-type'] = 'application/json';
    return fetch(url, { method, headers, ...(text !== undefined ? { body: text } : {}), ...(signal ? { signal } : {}) });
  }

  private get base(): string {
    return `/v1/devices/${this.state.device_id}`;
  }

  async describe(): Promise<{ device: { id: string; name: string }; totp: DeviceState['totp'] }> {
    const res = await this.request('GET', this.base);
    if (!res.ok) throw await refusalOf(res);
    return (await res.json()) as { device: { id: string; name: string }; totp: DeviceState['totp'] };
  }

  async pending(): Promise<ApprovalForDevice[]> {
    const res = await this.request('GET', `${this.base}/approval_requests`);
    if (!res.ok) throw await refusalOf(res);
    return ((await res.json()) as { approval_requests: ApprovalForDevice[] }).approval_requests;
  }

  /** The answer body for a request as displayed (message and details), signed. */
  answerBody(uuid: string, decision: Decision, number: string | null, shown: { message: string; details: Record<string, string> }) {
    const hash = detailsHash(shown.message, shown.details);
    return {
      decision,
      number,
      details_hash: hash,
      signature: this.sign(approvalSigningString({ uuid, decision, number, detailsHash: hash })),
    };
  }

  /** Answer a request the device displayed; resolves with the new status, throws DeviceApiError on refusal. */
  async respond(uuid: string, decision: Decision, number: string | null, shown: { message: string; details: Record<string, string> }): Promise<string> {
    const res = await this.request('POST', `${this.base}/approval_requests/${uuid}/response`, this.answerBody(uuid, decision, number, shown));
    if (!res.ok) throw await refusalOf(res);
    return ((await res.json()) as { approval_request: { status: string } }).approval_request.status;
  }

  /**
   * Read the event stream once (until it ends or `signal` aborts), calling `onEvent` for each
   * event. Resolves with the last event id seen, for reconnecting with `Last-Event-ID`.
   */
  async streamEvents(o: { lastEventId?: string | undefined; signal?: AbortSignal; onEvent: (e: DeviceEvent) => void }): Promise<string | undefined> {
    const res = await this.request('GET', `${this.base}/events`, undefined, o.lastEventId ? { 'last-event-id': o.lastEventId } : {}, o.signal);
    if (!res.ok || !res.body) throw await refusalOf(res);
    const decoder = new TextDecoder();
    const parser = new SseParser();
    const reader = res.body.getReader();
    const onAbort = () => void reader.cancel().catch(() => {});
    o.signal?.addEventListener('abort', onAbort);
    try {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
        if (done) break;
        for (const m of parser.push(decoder.decode(value, { stream: true }))) {
          const payload = JSON.parse(m.data) as Record<string, unknown>;
          if (m.event === 'approval_request') o.onEvent({ type: 'approval_request', id: m.id, request: payload as unknown as ApprovalForDevice });
          else if (m.event === 'approval_request_closed') o.onEvent({ type: 'approval_request_closed', uuid: String(payload['uuid']), status: String(payload['status']) });
        }
      }
    } finally {
      o.signal?.removeEventListener('abort', onAbort);
    }
    return parser.lastEventId ?? o.lastEventId;
  }

  /** The current TOTP code (RFC 6238) from the seed received at activation. */
  code(nowMs = Date.now()): { code: string; secondsLeft: number } {
    const t = this.state.totp;
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(t.secret), digits: t.digits, period: t.period, algorithm: t.algorithm });
    return { code: totp.generate({ timestamp: nowMs }), secondsLeft: t.period - (Math.floor(nowMs / 1000) % t.period) };
  }
}
