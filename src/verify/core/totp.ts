import { createHmac } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import { constantTimeEqual } from '../../platform/crypto.js';

export type TotpAlgorithm = 'SHA1' | 'SHA256' | 'SHA512';

export interface TotpOptions {
  /** Code length; default 6. */
  digits?: number;
  /** Time step in seconds; default 30 (RFC 6238 §4.1 X). */
  periodInSeconds?: number;
  /** HMAC hash; default SHA1. */
  algorithm?: TotpAlgorithm;
}

const defaults = { digits: 6, periodInSeconds: 30, algorithm: 'SHA1' as TotpAlgorithm };

const HMAC_ALGORITHM: Record<TotpAlgorithm, string> = { SHA1: 'sha1', SHA256: 'sha256', SHA512: 'sha512' };

/**
 * RFC 4226 §5.3: HOTP(K, C) truncated to `digits` decimal digits. Computed with node:crypto's
 * HMAC directly: every token check computes three (±1 step), and otpauth's objects around the
 * same HMAC took as long again (its output is checked against this in the RFC vector tests).
 */
export function generateHotp(secret: Uint8Array, counter: number, o: Omit<TotpOptions, 'periodInSeconds'> = {}): string {
  const digits = o.digits ?? defaults.digits;
  const message = Buffer.alloc(8);
  message.writeUInt32BE(Math.floor(counter / 2 ** 32), 0);
  message.writeUInt32BE(counter >>> 0, 4);
  const mac = createHmac(HMAC_ALGORITHM[o.algorithm ?? defaults.algorithm], secret).update(message).digest();
  // Dynamic truncation (§5.3): 31 bits from the offset the last nibble names.
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/** RFC 6238 §4.2: the time step number T = floor((now - T0) / X) with T0 = 0. */
export function timeStepAt(timeMs: number, periodInSeconds = defaults.periodInSeconds): number {
  return Math.floor(timeMs / 1000 / periodInSeconds);
}

/** The TOTP code for the time `timeMs` (milliseconds since the epoch). */
export function generateTotp(secret: Uint8Array, timeMs: number, o: TotpOptions = {}): string {
  return generateHotp(secret, timeStepAt(timeMs, o.periodInSeconds), o);
}

/**
 * The time step whose code equals `token`, searching `window` steps either side of now (RFC 6238
 * §5.2 allows one step of clock drift), or null. Every candidate is compared in constant time.
 */
export function matchTotpStep(secret: Uint8Array, token: string, timeMs: number, o: TotpOptions & { window?: number } = {}): number | null {
  const now = timeStepAt(timeMs, o.periodInSeconds);
  const window = o.window ?? 1;
  let found: number | null = null;
  for (let step = now - window; step <= now + window; step++) {
    if (constantTimeEqual(generateHotp(secret, step, o), token) && found === null) found = step;
  }
  return found;
}

export function base32Encode(secret: Uint8Array): string {
  return new Secret({ buffer: toArrayBuffer(secret) }).base32;
}

export function base32Decode(text: string): Uint8Array {
  return new Uint8Array(Secret.fromBase32(text).buffer);
}

/** `otpauth://totp/Issuer:label?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30` (Key Uri Format). */
export function totpUri(secret: Uint8Array, issuer: string, label: string, o: TotpOptions = {}): string {
  return new TOTP({
    issuer,
    label,
    secret: new Secret({ buffer: toArrayBuffer(secret) }),
    algorithm: o.algorithm ?? defaults.algorithm,
    digits: o.digits ?? defaults.digits,
    period: o.periodInSeconds ?? defaults.periodInSeconds,
  }).toString();
}

function toArrayBuffer(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}
