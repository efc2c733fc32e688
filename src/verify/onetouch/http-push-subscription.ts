import { createPublicKey } from 'node:crypto';
import { isIP } from 'node:net';
import * as z from 'zod';
import { invalidRequest } from './errors.js';
import type { PushSubscriptionJson } from './push-subscriptions.js';

/** The device API's reading of a Push API subscription (`PUT /v1/devices/{id}/push-subscription`). */

/** Longest endpoint URL accepted, in bytes (push services use a few hundred). */
export const MAX_ENDPOINT_BYTES = 2048;

const base64url = z.string().max(200).regex(/^[A-Za-z0-9_-]+={0,2}$/);

const subscriptionSchema = z.object({
  endpoint: z.string().min(1),
  expirationTime: z.number().nullable().optional(),
  keys: z.object({ p256dh: base64url, auth: base64url }),
});

/** Hosts a production server refuses as endpoints: push services are public hosts. */
function isLocalHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return isIP(h) !== 0 || h === 'localhost' || h.endsWith('.localhost') || !h.includes('.');
}

/**
 * Validate a PushSubscription JSON (RFC 8030 endpoint, RFC 8291 keys); throws 400 INVALID_REQUEST.
 * `p256dh` must be an uncompressed P-256 point on the curve, `auth` 16 bytes.
 */
export function parseSubscription(input: unknown, o: { production: boolean }): PushSubscriptionJson {
  const bad = (why: string) => invalidRequest(`invalid push subscription: ${why}`);
  const parsed = subscriptionSchema.safeParse(input);
  if (!parsed.success) throw bad('endpoint, keys.p256dh and keys.auth are required');
  const { endpoint, keys } = parsed.data;
  if (Buffer.byteLength(endpoint, 'utf8') > MAX_ENDPOINT_BYTES) throw bad(`endpoint is longer than ${MAX_ENDPOINT_BYTES} bytes`);
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw bad('endpoint is not a URL');
  }
  if (url.protocol !== 'https:') throw bad('endpoint must be an https URL');
  if (url.username || url.password || url.hash) throw bad('endpoint must not carry credentials or a fragment');
  // Defence against using the server to POST into its own network: real push services are
  // public DNS names. Tests run a local fake push service, so only production refuses these.
  if (o.production && isLocalHost(url.hostname)) throw bad('endpoint must be a public push service');
  // Push services listen on 443; another port is a way to reach some other service.
  if (o.production && url.port !== '') throw bad('endpoint must use the https port (443)');
  const point = Buffer.from(keys.p256dh, 'base64url');
  if (point.length !== 65 || point[0] !== 4) throw bad('keys.p256dh must be an uncompressed P-256 point');
  try {
    createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') }, format: 'jwk' });
  } catch {
    throw bad('keys.p256dh is not a point on P-256');
  }
  if (Buffer.from(keys.auth, 'base64url').length !== 16) throw bad('keys.auth must be 16 bytes');
  return { endpoint: url.href, keys: { p256dh: point.toString('base64url'), auth: Buffer.from(keys.auth, 'base64url').toString('base64url') } };
}

