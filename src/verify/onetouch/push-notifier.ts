import type { ServiceDirectory } from '../ports.js';
import type { OneTouchPlatform } from '../schema-onetouch.js';
import { MAX_PUSH_TTL_SECONDS, PUSH_TIMEOUT_MS, WebPushSender } from '../web-push.js';
import type { PushSubscriptions, StoredSubscription } from './push-subscriptions.js';

/**
 * What a push carries: enough for a lock-screen notification and to open the request, nothing
 * more (no details, no matching number, no secret).
 */
export interface ApprovalPush {
  type: 'approval_request';
  uuid: string;
  message: string;
  app_name: string;
}

/**
 * Sends Web Push messages (RFC 8030, encrypted per RFC 8291, VAPID per RFC 8292, all by the
 * `web-push` package) to the devices of a user when a new approval request is created.
 * Delivery runs after the request is committed and never holds up or fails the caller.
 */
export class PushNotifier {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly sender: WebPushSender;

  constructor(
    private readonly p: OneTouchPlatform,
    private readonly subscriptions: PushSubscriptions,
    private readonly directory: ServiceDirectory,
  ) {
    this.sender = new WebPushSender(p);
  }

  /** Fire and forget: notify every subscribed active device of the user about request `uuid`. */
  approvalCreated(userId: number, uuid: string): void {
    // Start on the next turn of the event loop, so the create call's own answer goes first.
    const job = new Promise<void>((r) => setImmediate(r)).then(() => this.deliver(userId, uuid)).catch((err: unknown) => {
      this.p.logger.warn({ err: err instanceof Error ? err.message : 'unknown' }, 'web push delivery failed');
    });
    this.inFlight.add(job);
    void job.finally(() => this.inFlight.delete(job));
  }

  private async deliver(userId: number, uuid: string): Promise<void> {
    const subs = await this.subscriptions.forUser(userId);
    if (subs.length === 0) return;
    const row = await this.p.db.db
      .selectFrom('approval_requests')
      .select(['uuid', 'message', 'expires_at', 'status', 'app_id'])
      .where('uuid', '=', uuid)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    if (!row || row.status !== 'pending') return;
    const app = (await this.directory.apps([row.app_id])).get(row.app_id);
    if (!app) return;
    const now = this.p.clock.now();
    const ttl = row.expires_at === null ? MAX_PUSH_TTL_SECONDS : Math.ceil((row.expires_at - now) / 1000);
    if (ttl <= 0) return;
    const payload: ApprovalPush = { type: 'approval_request', uuid: row.uuid, message: row.message, app_name: app.name };
    await Promise.all(subs.map((s) => this.send(s, JSON.stringify(payload), Math.min(ttl, MAX_PUSH_TTL_SECONDS))));
  }

  private async send(s: StoredSubscription, payload: string, ttlSeconds: number): Promise<void> {
    const { result, status } = await this.sender.send(s.subscription, payload, ttlSeconds, { device_id: s.deviceId });
    if (result === 'gone') {
      // RFC 8030 §7.3: the subscription is gone for good.
      const removed = await this.subscriptions.removeStale(s);
      this.p.logger.info({ device_id: s.deviceId, status, removed }, 'web push subscription expired; removed');
    }
  }

  /** Wait (bounded) for deliveries under way, so shutdown does not cut them off mid-query. */
  async stop(): Promise<void> {
    if (this.inFlight.size > 0) {
      await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => setTimeout(r, PUSH_TIMEOUT_MS + 1000).unref())]);
    }
    this.sender.stop();
  }
}
