// Set-ups shared by the route modules' test files (test/app/routes/*.test.ts): an account with an
// authenticator, the password step, a device's pending requests, a status stream read to its end.
import { createHmac } from 'node:crypto';
import { expect } from 'vitest';
import { openSse } from '../../helpers/sse.js';
import type { TestSystem } from '../../helpers/system.js';
import { Browser, eventually, newUser, TestDevice, type PendingApproval, signUp } from '../helpers.js';

/** Sign up, activate a device from the user page, log out. */
export async function userWithDevice(t: TestSystem) {
  const u = newUser();
  const b = new Browser(t.url);
  await signUp(b, u);
  const act = await b.post('/user/authenticators', {});
  expect(act.status).toBe(201);
  const link = (act.body.activation as { link: string }).link;
  expect(link).toContain('/authenticator/#activate=');
  const device = await TestDevice.activate(t.url, link);
  const me = await b.get('/user');
  expect((me.body.devices as unknown[]).length).toBe(1);
  expect((await b.del('/session')).status).toBe(200);
  return { u, device };
}

export async function passwordStep(t: TestSystem, u: { email: string; password: string }) {
  const b = new Browser(t.url);
  const r = await b.post('/session', { email: u.email, password: u.password });
  expect(r.status).toBe(200);
  expect(r.body.state).toBe('approve');
  return { b, number: r.body.number as string, details: r.body.details as Record<string, string> };
}

export async function pendingFor(device: TestDevice, count: number): Promise<PendingApproval[]> {
  return eventually(async () => {
    const list = await device.pending();
    return list.length >= count ? list : undefined;
  });
}

/** Read SSE `status` events from /authy/status until the server ends the stream (or timeout). */
export async function watchStatus(b: Browser, timeoutMs = 8000): Promise<string[]> {
  const stream = await openSse(`${b.base}/authy/status`, { cookie: b.cookie! });
  expect(stream.headers.get('content-type')).toContain('text/event-stream');
  await Promise.race([stream.ended, new Promise((r) => setTimeout(r, timeoutMs))]);
  stream.close();
  return stream.events.filter((e) => e.event === 'status').map((e) => (JSON.parse(e.data) as { status: string }).status);
}

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s) for the test device's seed. */
export function totpNow(base32: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of base32.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30_000)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const off = mac[mac.length - 1]! & 0xf;
  const n = (mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, '0');
}

/**
 * The recovery-code suites' set-ups, over the describe's system (`t()` is read when called, after
 * `beforeAll` started it).
 */
export function recoveryFixtures(t: () => TestSystem) {
  /** A signed-up user (logged out) and a browser logged in as them. */
  async function account() {
    const u = newUser();
    const b = new Browser(t().url);
    await signUp(b, u);
    const me = await b.get('/user');
    return { u, b, id: (me.body.user as { id: number }).id };
  }

  async function generate(b: Browser): Promise<string[]> {
    const r = await b.post('/user/recovery-codes', {});
    expect(r.status).toBe(201);
    return r.body.codes as string[];
  }

  /** A browser after the password step (a half session). */
  async function halfLogin(u: { email: string; password: string }): Promise<Browser> {
    const b = new Browser(t().url);
    const r = await b.post('/session', { email: u.email, password: u.password });
    expect(r.status).toBe(200);
    expect(r.body.state).toBe('code');
    return b;
  }

  const rows = (id: number) => t().system.db.selectFrom('app_recovery_codes').selectAll().where('user_id', '=', id).execute();

  return { account, generate, halfLogin, rows };
}

/** A new account, logged out, then the password step again: a half session waiting for an SMS code. */
export async function smsHalfLogin(t: TestSystem): Promise<{ b: Browser; to: string }> {
  const u = newUser();
  const b = new Browser(t.url);
  await signUp(b, u);
  expect((await b.del('/session')).status).toBe(200);
  const r = await b.post('/session', { email: u.email, password: u.password });
  expect(r.body).toMatchObject({ state: 'code', via: 'sms', retry_after: 30 });
  return { b, to: `+1${u.phone}` };
}

/** The app's user row for an email (its id, and its service user's id). */
export async function appUser(t: TestSystem, email: string): Promise<{ id: number; authy_id: number | null }> {
  return t.system.db.selectFrom('app_users').select(['id', 'authy_id']).where('email', '=', email.toLowerCase()).executeTakeFirstOrThrow();
}

/** Make every session of the account look as if its last proof (login, signup, step-up) was 6 minutes ago. */
export async function ageProof(t: TestSystem, email: string): Promise<void> {
  const { id } = await appUser(t, email);
  await t.system.db
    .updateTable('app_sessions')
    .set({ reauth_at: Date.now() - 6 * 60 * 1000 })
    .where('user_id', '=', id)
    .execute();
}

/** A code that is certainly not `code`. */
export const otherCode = (code: string) => String((Number(code) + 500_000) % 1_000_000).padStart(6, '0');

/**
 * An error answer of the web app: `status` and a body of exactly `{code, message}` plus `details`
 * (any message unless `details.message` names it).
 */
export function expectError(r: { status: number; body: Record<string, unknown> }, status: number, code: string, details: Record<string, unknown> = {}): void {
  expect({ status: r.status, body: r.body }).toEqual({ status, body: { code, message: expect.stringMatching(/\S/), ...details } });
}
