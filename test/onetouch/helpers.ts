import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { activateDevice, DeviceClient } from '../../src/authenticator/client.js';
import { AppStore } from '../../src/verify/core/apps.js';
import { storeAppSigningKey } from '../../src/verify/onetouch/signing-keys.js';
import type { TestSystem } from '../helpers/system.js';
import type { TotpSecretStore } from '../../src/verify/ports.js';
import { randomInt } from 'node:crypto';
import { registerUser as registerWithPhone } from '../verify/helpers.js';
import { corePlatform, oneTouchPlatform } from '../helpers/contexts.js';

/** A TOTP store for tests that build `Devices` only for what needs no secret. */
export const unusedTotp = new Proxy({}, { get: () => () => Promise.reject(new Error('unused')) }) as TotpSecretStore;

/** A valid, random US number (so users never collide: the same phone means the same user). */
export function randomUsPhone(): string {
  return `212-${randomInt(200, 1000)}-${String(randomInt(0, 10000)).padStart(4, '0')}`;
}

/** A new user of the app, registered through the Authy-compatible API. */
export function registerUser(base: string, apiKey: string): Promise<number> {
  return registerWithPhone(base, apiKey, randomUsPhone());
}

/** A relying app registered like the core does it, with its signing key stored. */
export async function createApp(ts: TestSystem, callbackUrl: string | null, name = 'Test App'): Promise<{ id: number; apiKey: string }> {
  const p = ts.system.platform;
  const { app, apiKey } = await new AppStore(corePlatform(p).db.db, p.clock).create({ name, callbackUrl });
  await storeAppSigningKey(oneTouchPlatform(p), app.id, apiKey);
  return { id: app.id, apiKey };
}

export async function activationLink(base: string, apiKey: string, userId: number): Promise<string> {
  const r = await fetch(`${base}/v1/users/${userId}/activations`, {
    method: 'POST',
    headers: { 'x-authy-api-key': apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'phone' }),
  });
  if (r.status !== 201) throw new Error(`activation failed: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { activation: { link: string } }).activation.link;
}

/** A new user of the app with one activated device. */
export async function userWithDevice(ts: TestSystem, apiKey: string): Promise<{ userId: number; device: DeviceClient }> {
  const userId = await registerUser(ts.url, apiKey);
  const link = await activationLink(ts.url, apiKey, userId);
  const state = await activateDevice(link, { name: 'test device' });
  return { userId, device: new DeviceClient(state) };
}

export interface ApprovalParams {
  message?: string;
  number_matching?: boolean;
  seconds_to_expire?: number;
  [k: string]: string | number | boolean | undefined;
}

/** POST /onetouch/json/users/{id}/approval_requests as a form. */
export async function createApproval(base: string, apiKey: string, userId: number | string, params: ApprovalParams = {}) {
  const form = new URLSearchParams();
  const all = { message: 'Login requested', 'details[Email Address]': 'a@example.com', ...params };
  for (const [k, v] of Object.entries(all)) if (v !== undefined) form.append(k, String(v));
  const r = await fetch(`${base}/onetouch/json/users/${userId}/approval_requests`, {
    method: 'POST',
    headers: { 'x-authy-api-key': apiKey, 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });
  const text = await r.text();
  return { status: r.status, text, body: JSON.parse(text) as Record<string, any> };
}

export async function approvalStatus(base: string, apiKey: string, uuid: string) {
  const r = await fetch(`${base}/onetouch/json/approval_requests/${uuid}`, { headers: { 'x-authy-api-key': apiKey } });
  return { status: r.status, body: (await r.json()) as Record<string, any> };
}

export interface ReceivedCallback {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  raw: string;
  body: Record<string, unknown>;
}

/** A local HTTP server standing in for the relying app's callback endpoint. */
export class CallbackReceiver {
  readonly received: ReceivedCallback[] = [];
  /** HTTP status to answer with (500 simulates an app that is down). */
  status = 200;
  /** When set, decides each answer's status instead of `status`, and may hold the answer back (a slow app). */
  answer: ((body: Record<string, unknown>) => number | Promise<number>) | undefined;
  private server: Server | undefined;
  private waiters: (() => void)[] = [];
  port = 0;

  async start(port = 0): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void (async () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          const body = JSON.parse(raw) as Record<string, unknown>;
          const status = this.answer ? await this.answer(body) : this.status;
          if (status >= 200 && status < 300) {
            this.received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, raw, body });
            for (const w of this.waiters.splice(0)) w();
          }
          res.statusCode = status;
          res.end('ok');
        })();
      });
    });
    await new Promise<void>((r) => this.server!.listen(port, '127.0.0.1', () => r()));
    this.port = (this.server.address() as AddressInfo).port;
    return this.url;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/authy/callback`;
  }

  /** Resolves once `n` callbacks were accepted (or rejects after `ms`). */
  async waitFor(n: number, ms = 10_000): Promise<ReceivedCallback[]> {
    const deadline = Date.now() + ms;
    while (this.received.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${n} callbacks, got ${this.received.length}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.received;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Post an answer body (already signed or tampered) with request headers, optionally overridden. */
export async function postAnswer(
  base: string,
  device: DeviceClient,
  uuid: string,
  body: unknown,
  o: { timestamp?: number; nonce?: string; headers?: Record<string, string>; deviceId?: string } = {},
): Promise<{ status: number; body: Record<string, any> }> {
  const id = o.deviceId ?? device.state.device_id;
  const path = `/v1/devices/${id}/approval_requests/${uuid}/response`;
  const text = JSON.stringify(body);
  const headers = { ...device.signedHeaders('POST', path, text, o), 'content-type': 'application/json', ...o.headers };
  const r = await fetch(`${base}${path}`, { method: 'POST', headers, body: text });
  return { status: r.status, body: (await r.json()) as Record<string, any> };
}

/** Collect a device's stream events until aborted. */
export function collectEvents(device: DeviceClient, lastEventId?: string) {
  const events: import('../../src/authenticator/client.js').DeviceEvent[] = [];
  const controller = new AbortController();
  let lastId: string | undefined;
  const done = device
    .streamEvents({ lastEventId, signal: controller.signal, onEvent: (e) => events.push(e) })
    .then((id) => {
      lastId = id;
      return id;
    });
  return {
    events,
    done,
    get lastId() {
      return lastId;
    },
    async until(pred: () => boolean, ms = 10_000) {
      const end = Date.now() + ms;
      while (!pred()) {
        if (Date.now() > end) throw new Error(`stream condition not met; events: ${JSON.stringify(events)}`);
        await sleep(20);
      }
    },
    async close() {
      controller.abort();
      return done.catch(() => undefined);
    },
  };
}
