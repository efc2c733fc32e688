import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, randomInt, timingSafeEqual, verify as verifySignature, type KeyObject } from 'node:crypto';

/** A random token of `bytes` bytes (default 32 = 256 bits), base64url. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** A uniformly random string of `length` decimal digits (leading zeros kept). */
export function randomDigits(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += String(randomInt(10));
  return out;
}

export function sha256Hex(input: string | Buffer): string {
  return createHash('sha256').update(input).digest('hex');
}

export function sha256Base64url(input: string | Buffer): string {
  return createHash('sha256').update(input).digest('base64url');
}

export function hmacSha256(key: Buffer | string, input: string | Buffer): Buffer {
  return createHmac('sha256', key).update(input).digest();
}

/** Constant-time equality of two strings (length leak only). */
/**
 * Whether `signature` (base64url of the 64-byte IEEE P1363 r‖s, as WebCrypto makes it) is `key`'s
 * ES256 signature of `data`: the devices' and push factors' signatures.
 */
export function es256Verifies(key: KeyObject, data: string, signature: string): boolean {
  const sig = Buffer.from(signature, 'base64url');
  return sig.length === 64 && verifySignature('sha256', Buffer.from(data, 'utf8'), { key, dsaEncoding: 'ieee-p1363' }, sig);
}

export function constantTimeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const x = typeof a === 'string' ? Buffer.from(a) : a;
  const y = typeof b === 'string' ? Buffer.from(b) : b;
  if (x.length !== y.length) {
    // Compare against itself so the time does not depend on where the inputs differ.
    timingSafeEqual(x, x);
    return false;
  }
  return timingSafeEqual(x, y);
}

/**
 * Keyed hash for short human codes (SMS codes, recovery codes). A database dump alone does not
 * let an attacker brute-force a 6-digit code: the key lives outside the database.
 */
export class CodeHasher {
  private readonly key: Buffer;
  constructor(masterKey: Buffer) {
    this.key = hmacSha256(masterKey, 'twofold/code-hash/v1');
  }
  hash(purpose: string, code: string): string {
    return hmacSha256(this.key, `${purpose}\u0000${code}`).toString('base64url');
  }
  matches(purpose: string, code: string, stored: string): boolean {
    return constantTimeEqual(this.hash(purpose, code), stored);
  }
}

/**
 * AES-256-GCM with associated data bound to where the ciphertext lives (table, column, row), so a
 * ciphertext copied to another row or column does not decrypt. Format: v1.<iv>.<ct>.<tag> base64url.
 */
export class SecretBox {
  private readonly key: Buffer;
  constructor(masterKey: Buffer) {
    if (masterKey.length !== 32) throw new Error('encryption key must be 32 bytes');
    this.key = hmacSha256(masterKey, 'twofold/secret-box/v1');
  }

  static associatedData(table: string, column: string, row: string | number): Buffer {
    return Buffer.from(`${table}\u0000${column}\u0000${row}`);
  }

  seal(plaintext: Buffer, ad: Buffer): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(ad);
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const tag = cipher.getAuthTag();
    return ['v1', iv.toString('base64url'), ct.toString('base64url'), tag.toString('base64url')].join('.');
  }

  /** Throws when the ciphertext was tampered with or belongs elsewhere. */
  open(sealed: string, ad: Buffer): Buffer {
    const [v, iv, ct, tag] = sealed.split('.');
    if (v !== 'v1' || !iv || ct === undefined || !tag) throw new Error('malformed ciphertext');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(ad);
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]);
  }
}

/**
 * A public id for a row keyed by a secret's hash (a session, a remembered browser): 22 base64url
 * characters of SHA-256 over `label:hash`, with no way back to the hash or the secret.
 */
export function publicIdOf(label: string, secretHash: string): string {
  return createHash('sha256').update(`${label}:${secretHash}`).digest('base64url').slice(0, 22);
}
