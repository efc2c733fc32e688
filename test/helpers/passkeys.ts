import { createServer } from 'node:net';
import { expect } from 'vitest';
import { Browser, newUser, signUp } from '../app/helpers.js';
import { SoftAuthenticator, type AuthenticatorOptions } from './soft-authenticator.js';
import { startTestSystem, type TestSystem, type TestSystemOptions } from './system.js';

/** A port free right now (the system then listens on it). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((ok) => s.close(() => ok()));
  return port;
}

/**
 * The system at `http://localhost:PORT` (WebAuthn refuses IP addresses as relying-party IDs):
 * PUBLIC_URL names localhost; requests still go to 127.0.0.1, where it listens.
 */
export async function startLocalhostSystem(o: TestSystemOptions = {}): Promise<TestSystem & { origin: string }> {
  const port = await freePort();
  const origin = `http://localhost:${port}`;
  const t = await startTestSystem({ ...o, port, env: { PUBLIC_URL: origin, ...o.env } });
  return { ...t, origin };
}

type Answer = { status: number; body: Record<string, unknown> };

/** Register a passkey from the account page (the session must have a fresh step-up). */
export async function addPasskey(b: Browser, auth: SoftAuthenticator, o: { name?: string; alg?: 'ES256' | 'RS256' | 'EdDSA' } = {}): Promise<Answer> {
  const opts = await b.post('/user/passkeys/options', {});
  expect(opts.status, JSON.stringify(opts.body)).toBe(200);
  const response = auth.register(opts.body.options as Record<string, unknown>, o.alg ? { alg: o.alg } : {});
  return b.post('/user/passkeys', { response, ...(o.name ? { name: o.name } : {}) });
}

/** A new account, signed up in `b`, holding one passkey in a new software authenticator. */
export async function userWithPasskey(t: TestSystem & { origin: string }, a: Partial<AuthenticatorOptions> = {}) {
  const u = newUser();
  const b = new Browser(t.url);
  await signUp(b, u);
  const auth = new SoftAuthenticator({ origin: t.origin, ...a });
  const added = await addPasskey(b, auth);
  expect(added.status, JSON.stringify(added.body)).toBe(201);
  return { u, b, auth, passkey: added.body.passkey as { id: string; name: string } };
}

/** Ask for sign-in options and answer them with `auth` (overrides as `SoftAuthenticator.assert`). */
export async function passkeySignIn(b: Browser, auth: SoftAuthenticator, o: Parameters<SoftAuthenticator['assert']>[1] = {}, extra: Record<string, unknown> = {}): Promise<Answer> {
  const opts = await b.post('/session/passkey-signin/options', {});
  expect(opts.status, JSON.stringify(opts.body)).toBe(200);
  return b.post('/session/passkey-signin', { response: auth.assert(opts.body.options as Record<string, unknown>, o), ...extra });
}

/** After the password: ask for second-factor options and answer them with `auth`. */
export async function passkeySecondFactor(b: Browser, auth: SoftAuthenticator, o: Parameters<SoftAuthenticator['assert']>[1] = {}): Promise<Answer> {
  const opts = await b.post('/session/passkey/options', {});
  if (opts.status !== 200) return opts;
  return b.post('/session/passkey', { response: auth.assert(opts.body.options as Record<string, unknown>, o) });
}
