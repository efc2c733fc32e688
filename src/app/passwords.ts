import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as Argon2 from '@node-rs/argon2';
import type { Algorithm, Options } from '@node-rs/argon2';
import { randomToken } from '../platform/crypto.js';
import { packageRoot } from '../platform/package-root.js';

let argon2: typeof Argon2 | undefined;

/**
 * The argon2 native addon, loaded by the first hash or check: `serve --only verify` and the CLI
 * never load it; `serve` with the web app loads it once listening (the dummy hash of `start`).
 */
function lib(): typeof Argon2 {
  return (argon2 ??= createRequire(import.meta.url)('@node-rs/argon2') as typeof Argon2);
}

/** argon2id, m=19456 KiB, t=2, p=1 (OWASP's minimum recommendation). */
const ARGON2: Options = { algorithm: 2 as Algorithm, memoryCost: 19_456, timeCost: 2, parallelism: 1 };

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 256;

let common: Set<string> | undefined;

/** The ~1000 most common passwords, lower case. */
export function commonPasswords(): Set<string> {
  common ??= new Set(
    readFileSync(join(packageRoot(), 'src/app/data/common-passwords.txt'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#')),
  );
  return common;
}

/** Why a password is refused, or null when it is acceptable. */
export function passwordProblem(password: string): string | null {
  if ([...password].length < PASSWORD_MIN_LENGTH) return `Use at least ${PASSWORD_MIN_LENGTH} characters.`;
  if (password.length > PASSWORD_MAX_LENGTH) return `Use at most ${PASSWORD_MAX_LENGTH} characters.`;
  if (commonPasswords().has(password.toLowerCase())) return 'This password is too common; choose another.';
  return null;
}

export function hashPassword(password: string): Promise<string> {
  return lib().hash(password, ARGON2);
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  try {
    return await lib().verify(stored, password);
  } catch {
    return false;
  }
}

let dummy: Promise<string> | undefined;

/**
 * A hash of a random password with the same parameters: verifying against it costs what a real
 * verification costs, so an unknown email answers in the same time as a wrong password.
 */
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(randomToken(24));
  return dummy;
}
