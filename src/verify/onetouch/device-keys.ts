import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { TotpParameters } from '../ports.js';

/** A device's public key as it arrives, and what a device is shown of its user and its TOTP. */

const JWK_COORDINATE = /^[A-Za-z0-9_-]{42,44}$/;

/** An EC P-256 public JWK as a key, or undefined for anything else (a private key included). */
export function parsePublicJwk(input: unknown): { jwk: JsonWebKey; key: KeyObject } | undefined {
  if (typeof input !== 'object' || input === null || Array.isArray(input) || 'd' in input) return undefined;
  const { kty, crv, x, y } = input as Record<string, unknown>;
  if (kty !== 'EC' || crv !== 'P-256' || typeof x !== 'string' || typeof y !== 'string' || !JWK_COORDINATE.test(x) || !JWK_COORDINATE.test(y)) return undefined;
  const jwk: JsonWebKey = { kty: 'EC', crv: 'P-256', x, y };
  try {
    const key = createPublicKey({ key: jwk, format: 'jwk' });
    if (key.type !== 'public' || key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') return undefined;
    return { jwk, key };
  } catch {
    return undefined;
  }
}

/** `alice@example.com` → `a***@example.com`. */
export function emailHint(email: string): string {
  const at = email.lastIndexOf('@');
  if (at < 1) return '***';
  return `${email.slice(0, 1)}***${email.slice(at)}`;
}

export function totpView(t: TotpParameters) {
  return { secret: t.secret, digits: t.digits, period: t.period, algorithm: t.algorithm, issuer: t.issuer, label: t.label };
}
