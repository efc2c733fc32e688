import type { Config } from '../platform/config.js';
import { endpointHostAllowed, publicOnlyAgent } from '../platform/egress.js';
import type { Logger } from '../platform/logger.js';

/**
 * `web-push`, loaded when the first push is sent (only users with a subscribed PWA get pushes;
 * it holds about 8 MB that a process without them need not carry).
 */
let webPush: Promise<typeof import('web-push')> | undefined;
const loadWebPush = () => (webPush ??= import('web-push').then((m) => m.default));

/** Push services keep a message at most about four weeks; used when a request never expires. */
export const MAX_PUSH_TTL_SECONDS = 28 * 86_400;
/** A push service that has not answered by then is given up on (the device still has SSE). */
export const PUSH_TIMEOUT_MS = 10_000;

/** A Push API subscription as `PushSubscription.toJSON()` gives it (the parts kept). */
export interface WebPushSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

/** How one delivery ended: `gone` is RFC 8030 §7.3's 404/410 (the caller drops the subscription). */
export interface PushOutcome {
  result: 'sent' | 'gone' | 'failed' | 'refused';
  /** The push service's HTTP status, when it answered with an error. */
  status?: number;
}

/**
 * The one Web Push sender (RFC 8030, encrypted per RFC 8291 aes128gcm, VAPID per RFC 8292, all
 * by the `web-push` package) of OneTouch approvals and Verify v2 push challenges. Production
 * deliveries reach public addresses only, judged at the endpoint and again when connecting.
 */
export class WebPushSender {
  // Tests run a local fake push service, as for the endpoint check at subscription time.
  private readonly agent: ReturnType<typeof publicOnlyAgent> | undefined;

  constructor(private readonly p: { config: Config; logger: Logger }) {
    this.agent = p.config.production ? publicOnlyAgent() : undefined;
  }

  /** The VAPID `sub` claim: VAPID_SUBJECT, else an https PUBLIC_URL, else a placeholder contact. */
  private subject(): string {
    if (this.p.config.VAPID_SUBJECT) return this.p.config.VAPID_SUBJECT;
    return this.p.config.PUBLIC_URL.startsWith('https://') ? this.p.config.PUBLIC_URL : 'mailto:webmaster@localhost';
  }

  /** Send `payload` (small JSON, encrypted to the subscription) with a TTL; `log` names the subscriber in logs. */
  async send(subscription: WebPushSubscription, payload: string, ttlSeconds: number, log: Record<string, string>): Promise<PushOutcome> {
    if (this.agent && !endpointHostAllowed(subscription.endpoint)) {
      this.p.logger.warn(log, 'web push not sent: the endpoint is not a public address');
      return { result: 'refused' };
    }
    const webpush = await loadWebPush();
    try {
      await webpush.sendNotification(subscription, payload, {
        vapidDetails: { subject: this.subject(), publicKey: this.p.config.vapid.publicKey, privateKey: this.p.config.vapid.privateKey },
        TTL: Math.max(1, Math.min(ttlSeconds, MAX_PUSH_TTL_SECONDS)),
        urgency: 'high',
        contentEncoding: 'aes128gcm',
        timeout: PUSH_TIMEOUT_MS,
        ...(this.agent ? { agent: this.agent } : {}),
      });
      return { result: 'sent' };
    } catch (err) {
      // Only the status: the endpoint is a capability URL and the response body is the service's.
      const status = err instanceof webpush.WebPushError ? err.statusCode : undefined;
      if (status === 404 || status === 410) return { result: 'gone', status };
      // A network failure has no status: log its errno name (`code` is a redacted log key).
      const error = status === undefined && err instanceof Error ? ((err as NodeJS.ErrnoException).code ?? err.name) : undefined;
      this.p.logger.warn({ ...log, status, error }, 'web push delivery failed');
      return status === undefined ? { result: 'failed' } : { result: 'failed', status };
    }
  }

  stop(): void {
    this.agent?.destroy();
  }
}
