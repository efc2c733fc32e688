import { createHash } from 'node:crypto';
import { detailsPayload } from './device.js';

/** The device protocol's hashes in Node (the service, the CLI); the PWA takes them with WebCrypto. */

/** Hex SHA-256 of the raw body, or "" when there is none. */
export function bodyDigest(body: Buffer | string | undefined): string {
  if (body === undefined || body.length === 0) return '';
  return createHash('sha256').update(body).digest('hex');
}

/** Hex SHA-256 of the canonical JSON of `{ message, details }` as the device displayed them. */
export function detailsHash(message: string, details: Record<string, string>): string {
  return createHash('sha256').update(detailsPayload(message, details), 'utf8').digest('hex');
}
