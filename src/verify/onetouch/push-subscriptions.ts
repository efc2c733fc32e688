import type { OneTouchPlatform } from '../schema-onetouch.js';
import { SecretBox } from '../../platform/crypto.js';
import type { AuthenticatedDevice } from './devices.js';

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

const ad = (deviceId: string) => SecretBox.associatedData('push_subscriptions', 'subscription', deviceId);

/** The Web Push subscriptions of devices: one per device, sealed at rest. */
export class PushSubscriptions {
  constructor(private readonly p: OneTouchPlatform) {}

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
