import { sql, type Kysely, type RawBuilder } from 'kysely';
import { TOTP } from 'otpauth';
import { expect } from 'vitest';
import { TotpSecrets } from '../../src/verify/core/totp-secrets.js';
import { Browser, eventually, newUser, TestDevice, type PendingApproval, signUp } from '../app/helpers.js';
import type { TestSystem } from '../helpers/system.js';
import { corePlatform } from '../helpers/contexts.js';

export type SignupForm = ReturnType<typeof newUser>;

/** The TOTP code of `secret` (base32) at `atMs`. */
export function totpAt(secret: string, atMs: number): string {
  return new TOTP({ secret, digits: 6, period: 30, algorithm: 'SHA1' }).generate({ timestamp: atMs });
}

/** A code that is certainly not `code`. */
export function otherCode(code: string): string {
  return String((Number(code) + 500_000) % 1_000_000).padStart(6, '0');
}

/** Sign up, set up an authenticator app from the user page (confirmed), log out. */
export async function userWithTotp(t: TestSystem): Promise<{ u: SignupForm; secret: string; to: string }> {
  const u = newUser();
  const b = new Browser(t.url);
  await signUp(b, u);
  const app = await b.post('/user/totp-app', {});
  expect(app.status).toBe(201);
  const secret = new URL(String(app.body.uri)).searchParams.get('secret')!;
  // Confirmed as a first code of it would confirm it, but without spending a time step: these
  // suites decide themselves which steps their codes use.
  const { authy_id } = await t.system.db.selectFrom('app_users').select('authy_id').where('email', '=', u.email).executeTakeFirstOrThrow();
  expect(await new TotpSecrets(corePlatform(t.system.platform)).confirmApp(authy_id!, String(app.body.id), {})).toBe('activated');
  expect((await b.del('/session')).status).toBe(200);
  return { u, secret, to: `+1${u.phone}` };
}

/** Sign up, activate a device from the user page, log out. */
export async function userWithDevice(t: TestSystem): Promise<{ u: SignupForm; device: TestDevice }> {
  const u = newUser();
  const b = new Browser(t.url);
  await signUp(b, u);
  const act = await b.post('/user/authenticators', {});
  expect(act.status).toBe(201);
  const device = await TestDevice.activate(t.url, (act.body.activation as { link: string }).link);
  expect((await b.del('/session')).status).toBe(200);
  return { u, device };
}

/** The password step in a fresh browser; expects a second-factor state. */
export async function passwordStep(t: TestSystem, u: { email: string; password: string }, expectState?: 'approve' | 'code') {
  const b = new Browser(t.url);
  const r = await b.post('/session', { email: u.email, password: u.password });
  expect(r.status).toBe(200);
  if (expectState) expect(r.body.state).toBe(expectState);
  return { b, body: r.body, number: (r.body.number as string | undefined) ?? null };
}

/** Wait until the device sees at least `count` pending requests. */
export function pendingFor(device: TestDevice, count: number): Promise<PendingApproval[]> {
  return eventually(async () => {
    const list = await device.pending();
    return list.length >= count ? list : undefined;
  });
}

/** Rows of `audit_events` for a user reference, oldest first. */
export async function auditRows(t: TestSystem, userRef: string) {
  return t.system.db.selectFrom('audit_events').selectAll().where('user_ref', '=', userRef).orderBy('at').orderBy('id').execute();
}

/** The app's user id for an email. */
export async function appUserId(t: TestSystem, email: string): Promise<number> {
  const row = await t.system.db.selectFrom('app_users').select('id').where('email', '=', email.toLowerCase()).executeTakeFirstOrThrow();
  return row.id;
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Another connection of `t`'s database (PostgreSQL) holds the rows `lock` selects FOR UPDATE in an
 * open transaction: resolved once they are held. `release()` runs `then` (writes made while they
 * are still held) and commits; it resolves when the commit is done.
 */
export async function holdRows(t: TestSystem, lock: RawBuilder<unknown>, then?: (conn: Kysely<unknown>) => Promise<void>): Promise<{ release: () => Promise<void> }> {
  let release!: () => void;
  const released = new Promise<void>((ok) => (release = ok));
  let locked!: () => void;
  const isLocked = new Promise<void>((ok) => (locked = ok));
  const holder = t.system.db.connection().execute(async (conn) => {
    await sql`BEGIN`.execute(conn);
    await lock.execute(conn);
    locked();
    await released;
    await then?.(conn as unknown as Kysely<unknown>);
    await sql`COMMIT`.execute(conn);
  });
  await Promise.race([isLocked, holder]);
  return {
    release: async () => {
      release();
      await holder;
    },
  };
}
