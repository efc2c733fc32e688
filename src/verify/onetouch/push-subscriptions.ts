import { createPublicKey } from 'node:crypto';
import { isIP } from 'node:net';
import { z } from 'zod';
import type { Platform } from '../../platform/context.js';
import { SecretBox } from '../../platform/crypto.js';
import type { AuthenticatedDevice } from './devices.js';
import { invalidRequest } from './errors.js';

/** Longest endpoint URL accepted, in bytes (push services use a few hundred). */
export const MAX_ENDPOINT_BYTES = 2048;

/** A Push API subscription as `PushSubscription.toJSON()` gives it (the parts we keep). */
export interface PushSubscriptionJson {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export interface StoredSubscription {
  deviceId: string;
  subscription: PushSubscriptionJson;
  /** The sealed column as read: deleting "this" subscription matches on it. */
  sealed: string;
}

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

const ad = (deviceId: string) => SecretBox.associatedData('push_subscriptions', 'subscription', deviceId);

/** The Web Push subscriptions of devices: one per device, sealed at rest. */
export class PushSubscriptions {
  constructor(private readonly p: Platform) {}

  /** Store (or replace) the device's subscription. */
  async save(device: AuthenticatedDevice, subscription: PushSubscriptionJson): Promise<{ device_id: string; updated_at: number }> {
    const now = this.p.clock.now();
    const sealed = this.p.secretBox.seal(Buffer.from(JSON.stringify(subscription), 'utf8'), ad(device.id));
    // One row per device: the primary key turns a concurrent second save into an update.
    await this.p.db.db
      .insertInto('push_subscriptions')
      .values({ device_id: device.id, user_id: device.userId, sealed, created_at: now, updated_at: now })
      .onConflict((oc) => oc.column('device_id').doUpdateSet({ sealed, updated_at: now }))
      .execute();
    return { device_id: device.id, updated_at: now };
  }

  /** Remove the device's subscription; true when there was one. */
  async remove(deviceId: string): Promise<boolean> {
    const r = await this.p.db.db.deleteFrom('push_subscriptions').where('device_id', '=', deviceId).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Remove exactly the subscription that was read (a newer one saved meanwhile stays). */
  async removeStale(s: StoredSubscription): Promise<boolean> {
    const r = await this.p.db.db.deleteFrom('push_subscriptions').where('device_id', '=', s.deviceId).where('sealed', '=', s.sealed).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Subscriptions of the user's active (not revoked) devices. */
  async forUser(userId: number): Promise<StoredSubscription[]> {
    const rows = await this.p.db.db
      .selectFrom('push_subscriptions as s')
      .innerJoin('devices as d', 'd.id', 's.device_id')
      .select(['s.device_id', 's.sealed'])
      .where('s.user_id', '=', userId)
      .where('d.user_id', '=', userId)
      .where('d.revoked_at', 'is', null)
      .execute();
    const out: StoredSubscription[] = [];
    for (const r of rows) {
      try {
        const subscription = JSON.parse(this.p.secretBox.open(r.sealed, ad(r.device_id)).toString('utf8')) as PushSubscriptionJson;
        out.push({ deviceId: r.device_id, subscription, sealed: r.sealed });
      } catch (err) {
        this.p.logger.warn({ device_id: r.device_id, err: err instanceof Error ? err.message : 'unknown' }, 'push subscription cannot be opened');
      }
    }
    return out;
  }
}
