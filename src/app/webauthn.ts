import { isIP } from 'node:net';
import * as z from 'zod';
import type { AuthenticationResponseJSON, PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { Config } from '../platform/config.js';
import { HttpError } from '../platform/errors.js';
import { AppError } from './error-codes.js';
import { CHALLENGE_TTL_MS, type PasskeyRow } from './passkeys.js';

/** ES256 and RS256: what passkeys and security keys sign with (EdDSA is left out on purpose: few use it, and the issue names these two). */
export const PASSKEY_ALGORITHMS = [-7, -257];

/** Where passkeys belong: the relying party named by PUBLIC_URL (never the request's Host). */
export type RelyingParty = { available: true; rpID: string; origin: string; name: string } | { available: false; reason: string };

/**
 * The relying party of PUBLIC_URL. WebAuthn binds a passkey to a domain: an IP address is refused
 * by every browser, and so is plain http anywhere but localhost.
 */
export function relyingParty(config: Config): RelyingParty {
  const url = new URL(config.PUBLIC_URL);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) {
    return { available: false, reason: `Passkeys need this site to have a domain name, and it is configured as ${url.origin} (an IP address). Open it at its name (for a local copy: http://localhost:${url.port || '80'}).` };
  }
  if (url.protocol !== 'https:' && host !== 'localhost' && !host.endsWith('.localhost')) {
    return { available: false, reason: 'Passkeys need this site to be served over https.' };
  }
  return { available: true, rpID: host, origin: url.origin, name: config.APP_NAME };
}

/** The relying party, or 409 PASSKEYS_UNAVAILABLE saying why there is none. */
export function requireRelyingParty(config: Config): Extract<RelyingParty, { available: true }> {
  const rp = relyingParty(config);
  if (!rp.available) throw new HttpError(409, AppError.PASSKEYS_UNAVAILABLE, rp.reason);
  return rp;
}

// ---- What a browser sends: bounded before anything is decoded ----

const b64url = (max: number) => z.string({ error: 'must be a string' }).min(1, 'is required').max(max, `must be at most ${max} characters`).regex(/^[A-Za-z0-9_-]+={0,2}$/, 'must be base64url');
/** A credential id is at most 1,023 bytes (WebAuthn §5.1.1): 1,364 base64url characters. */
const credentialId = b64url(1364);
const extensions = z.record(z.string().max(64), z.unknown()).optional();
const attachment = z.enum(['platform', 'cross-platform']).optional();

const registrationResponse = z.object({
  id: credentialId,
  rawId: credentialId,
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: b64url(4096),
    attestationObject: b64url(12_000),
    transports: z.array(z.string().max(32)).max(10).optional(),
    authenticatorData: b64url(12_000).optional(),
    publicKey: b64url(4096).optional(),
    publicKeyAlgorithm: z.number().int().optional(),
  }),
  clientExtensionResults: extensions,
  authenticatorAttachment: attachment,
});

const authenticationResponse = z.object({
  id: credentialId,
  rawId: credentialId,
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: b64url(4096),
    authenticatorData: b64url(4096),
    signature: b64url(2048),
    userHandle: b64url(128).optional(),
  }),
  clientExtensionResults: extensions,
  authenticatorAttachment: attachment,
});

const remember = z.boolean({ error: 'must be true or false' }).optional();
const passkeyName = z
  .string({ error: 'must be a string' })
  .trim()
  .min(1, 'is required')
  .max(64, 'must be at most 64 characters')
  // Control characters (PostgreSQL refuses NUL) and direction overrides (a name that reads as another).
  .refine((v) => !/[\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069]/u.test(v), 'must not hold control or direction characters');

export const registerPasskeySchema = z.object({ response: registrationResponse, name: passkeyName.optional() });
export const passkeyAssertionSchema = z.object({ response: authenticationResponse, remember, return_to: z.unknown().optional() });
export const renamePasskeySchema = z.object({ name: passkeyName });
export const passkeyIdSchema = z.string().regex(/^pk_[A-Za-z0-9_-]{16}$/);

const KNOWN_TRANSPORTS = new Set(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb']);
/** The transports worth keeping (shown to the browser again in allowCredentials). */
export const knownTransports = (t: string[] | undefined): string[] => (t ?? []).filter((x) => KNOWN_TRANSPORTS.has(x));

// ---- The ceremonies (@simplewebauthn/server, loaded on first use) ----

let lib: Promise<typeof import('@simplewebauthn/server')> | undefined;
const webauthn = () => (lib ??= import('@simplewebauthn/server'));

const invalid = (reason: string, message = 'This passkey could not be verified. Try again, or use another way to sign in.') => new HttpError(400, AppError.PASSKEY_INVALID, message, { reason });
const EXPIRED = 'This passkey request has ended or was already used. Try again.';

/** A challenge check: consumes the stored challenge once (see Passkeys.consumeChallenge). */
export type ChallengeCheck = (challenge: string) => Promise<boolean>;

export async function registrationOptions(rp: Extract<RelyingParty, { available: true }>, user: { handle: string; email: string; fullName: string }, exclude: PasskeyRow[]): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const { generateRegistrationOptions } = await webauthn();
  return generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.rpID,
    userName: user.email,
    userDisplayName: user.fullName,
    userID: Buffer.from(user.handle, 'base64url'),
    timeout: CHALLENGE_TTL_MS,
    attestationType: 'none',
    excludeCredentials: exclude.map((p) => ({ id: p.credential_id, transports: JSON.parse(p.transports) as string[] })),
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
    supportedAlgorithmIDs: PASSKEY_ALGORITHMS,
  });
}

/** Whether the browser says the ceremony ran in a frame of another site (never expected here). */
function crossOrigin(clientDataJSON: string): boolean {
  try {
    return (JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { crossOrigin?: unknown }).crossOrigin === true;
  } catch {
    return false; // the library refuses what is not JSON
  }
}

/** Run a verification whose challenge check consumes the challenge; any failure is a 400. */
async function verified<T>(clientDataJSON: string, check: ChallengeCheck, run: (expectedChallenge: ChallengeCheck) => Promise<T>): Promise<T> {
  if (crossOrigin(clientDataJSON)) throw invalid('cross-origin ceremony');
  let challengeOk: boolean | undefined;
  try {
    return await run(async (c) => (challengeOk = await check(c)));
  } catch (e) {
    if (challengeOk === false) throw invalid('challenge unknown, used or expired', EXPIRED);
    throw invalid(e instanceof Error ? e.message.slice(0, 200) : 'verification failed');
  }
}

export async function verifyRegistration(rp: Extract<RelyingParty, { available: true }>, response: z.infer<typeof registrationResponse>, check: ChallengeCheck) {
  const { verifyRegistrationResponse } = await webauthn();
  const r = await verified(response.response.clientDataJSON, check, (expectedChallenge) =>
    verifyRegistrationResponse({
      response: response as RegistrationResponseJSON,
      expectedChallenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.rpID,
      requireUserVerification: false,
      supportedAlgorithmIDs: PASSKEY_ALGORITHMS,
    }),
  );
  if (!r.verified) throw invalid('registration not verified');
  // The credential the authenticator made is the one the browser named, of a sane length (the
  // library compares only id and rawId): what is stored is what later answers will carry.
  const bytes = Buffer.from(r.registrationInfo.credential.id, 'base64url').length;
  if (r.registrationInfo.credential.id !== response.id || bytes < 16 || bytes > 1023) throw invalid('credential id differs from the attested one, or is not 16 to 1,023 bytes');
  return r.registrationInfo;
}

export async function authenticationOptions(rp: Extract<RelyingParty, { available: true }>, allow: PasskeyRow[] | undefined): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const { generateAuthenticationOptions } = await webauthn();
  return generateAuthenticationOptions({
    rpID: rp.rpID,
    timeout: CHALLENGE_TTL_MS,
    userVerification: 'preferred',
    ...(allow ? { allowCredentials: allow.map((p) => ({ id: p.credential_id, transports: JSON.parse(p.transports) as never[] })) } : {}),
  });
}

/**
 * Verify an assertion by `row`'s key. The counter is not checked here (it is given as 0): the
 * caller records it with one conditional UPDATE, which also catches two copies racing.
 */
export async function verifyAssertion(rp: Extract<RelyingParty, { available: true }>, response: z.infer<typeof authenticationResponse>, row: PasskeyRow, check: ChallengeCheck) {
  const { verifyAuthenticationResponse } = await webauthn();
  const r = await verified(response.response.clientDataJSON, check, (expectedChallenge) =>
    verifyAuthenticationResponse({
      response: response as AuthenticationResponseJSON,
      expectedChallenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.rpID,
      requireUserVerification: false,
      credential: { id: row.credential_id, publicKey: Buffer.from(row.public_key, 'base64url'), counter: 0 },
    }),
  );
  if (!r.verified) throw invalid('assertion not verified');
  return r.authenticationInfo;
}
