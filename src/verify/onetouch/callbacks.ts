import type { Selectable } from 'kysely';
import { claimDue, purgeOutbox, type OutboxRow } from './callback-outbox.js';
import { signCallback } from '../../platform/authy-signature.js';
import { twilioSignature } from '../../platform/twilio-signature.js';
import { publicOnlyAgent } from '../../platform/egress.js';
import { postStatusOnly } from './webhook-sink.js';
import { isDatabaseUnavailable } from '../../platform/db.js';
import type { AppInfo, ServiceDirectory } from '../ports.js';
import type { OneTouchPlatform, OneTouchTables } from '../schema-onetouch.js';
import { loadAppSigningKey } from './signing-keys.js';

/** First retry after 1 s, doubling, at most an hour apart (at-least-once delivery). */
export const RETRY_BASE_MS = 1000;
export const RETRY_MAX_MS = 60 * 60 * 1000;
/** After this long an undelivered callback is given up (and logged). */
export const GIVE_UP_AFTER_MS = 24 * 60 * 60 * 1000;
export const SEND_TIMEOUT_MS = 10 * 1000;
/**
 * A claimed row is its claimer's for this long (longer than a send may take); the claim of a
 * process that died mid-send then lapses and another process retries the row.
 */
export const LEASE_MS = SEND_TIMEOUT_MS + 5 * 1000;
/**
 * A send ends at the latest this long before its lease does (room for clocks that differ a
 * little between instances): a holder never sends once another instance may have the row.
 */
export const LEASE_MARGIN_MS = 2 * 1000;
/**
 * Sends in flight at once, in all and per app (per instance). A pass claims only as many rows as
 * there are free slots, and of each app only what its share leaves: an app whose receiver hangs
 * (each send may last its timeout) or that floods the outbox never delays another app's callbacks.
 */
export const MAX_IN_FLIGHT = 50;
export const MAX_IN_FLIGHT_PER_APP = 5;

export function retryDelayMs(attempts: number): number {
  return Math.min(RETRY_BASE_MS * 2 ** Math.max(0, Math.min(attempts - 1, 30)), RETRY_MAX_MS);
}

/** The app's callback URL: its registered one, or for the built-in app `<PUBLIC_URL>/authy/callback`. */
export function callbackUrlFor(app: Pick<AppInfo, 'callbackUrl' | 'builtin'>, publicUrl: string): string | null {
  if (app.callbackUrl) return app.callbackUrl;
  return app.builtin ? `${publicUrl}/authy/callback` : null;
}

type Row = Selectable<OneTouchTables['approval_requests']>;

/** The OneTouch callback body (docs/authy-compat.md) (times in Unix seconds). */
export function buildCallbackBody(o: { row: Row; deviceId: string; signature: string; answeredAt: number }) {
  const { row } = o;
  const sec = (ms: number) => Math.floor(ms / 1000);
  const status = row.status as 'approved' | 'denied';
  return {
    approval_request: {
      expiration_timestamp: row.expires_at === null ? null : sec(row.expires_at),
      logos: row.logos === null ? null : (JSON.parse(row.logos) as unknown[]),
      transaction: {
        created_at_time: sec(row.created_at),
        customer_uuid: `app-${row.app_id}`,
        details: JSON.parse(row.details) as Record<string, string>,
        device_details: null,
        device_geolocation: null,
        device_signing_time: sec(o.answeredAt),
        encrypted: false,
        flagged: false,
        hidden_details: JSON.parse(row.hidden_details) as Record<string, string>,
        message: row.message,
        reason: null,
        requester_details: null,
        status,
        uuid: row.uuid,
      },
    },
    authy_id: row.user_id,
    callback_action: 'approval_request_status',
    device_uuid: o.deviceId,
    signature: o.signature,
    status,
    uuid: row.uuid,
  };
}

/** A v2 webhook's send ends after this. */
export const WEBHOOK_TIMEOUT_MS = 5 * 1000;

/** POST and read only the status: the body is never read (a receiver could send one without end), redirects are not followed. */
async function fetchStatus(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<number> {
  const res = await fetch(url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
  await res.body?.cancel().catch(() => undefined);
  return res.status;
}

/** A Verify v2 webhook's headers: a form, signed as Twilio signs (X-Twilio-Signature). */
function twilioHeaders(apiKey: string, url: string, body: string): Record<string, string> {
  return {
    'content-type': 'application/x-www-form-urlencoded',
    'user-agent': 'Twofold-Webhook/1',
    'x-twilio-signature': twilioSignature(apiKey, url, Object.fromEntries(new URLSearchParams(body))),
  };
}

/**
 * Delivers the callback outbox: claims due rows with a lease (so two instances never send the
 * same row at once), POSTs them signed, retries with backoff for a day. Runs on a timer, is
 * kicked right after an answer commits and when a send ends while rows wait for a slot. A pass
 * does not wait for its sends: they run in bounded slots (50, at most 5 per app), so one app's
 * slow receiver or flood holds only its own slots.
 */
export class CallbackWorker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  private unavailable = false;
  /** Outbox ids sent (2xx) whose delivery could not be recorded yet, with when they were sent. */
  private readonly unrecorded = new Map<number, number>();
  /** Sends in flight, and how many of them each app has. */
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly busy = new Map<number, number>();
  /** The last claim may have left due rows behind (no free slot, or an app at its share): a send that ends wakes the loop. */
  private backlog = false;

  /**
   * Production: v2 webhooks (URLs an app chose, unlike the callback URLs operators set) connect to
   * public addresses only, judged when connecting (DNS rebinding included).
   */
  private readonly publicOnly: ReturnType<typeof publicOnlyAgent> | undefined;

  constructor(
    private readonly p: OneTouchPlatform,
    private readonly directory: ServiceDirectory,
    private readonly intervalMs = 500,
    private readonly limits = { total: MAX_IN_FLIGHT, perApp: MAX_IN_FLIGHT_PER_APP },
  ) {
    this.publicOnly = p.config.production ? publicOnlyAgent() : undefined;
  }

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => this.kick(), this.intervalMs);
    this.timer.unref();
    this.kick();
  }

  /** No new claims; resolves once the sends in flight ended (each within its timeout). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
    await Promise.allSettled([...this.inFlight]);
    this.publicOnly?.destroy();
  }

  /** Run a delivery pass now (or right after the current one). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => {
      this.running = undefined;
    });
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.claimAndSend();
        if (this.unavailable) this.p.logger.info('callback delivery resumed: the database is back');
        this.unavailable = false;
      } catch (err) {
        this.failed(err, 'callback delivery pass failed');
      }
    } while (this.again && !this.stopped);
  }

  private failed(err: unknown, what: string): void {
    if (!isDatabaseUnavailable(err)) this.p.logger.error({ err }, what);
    else if (!this.unavailable) {
      // Once per outage, not every half second; the timer retries until the database is back.
      this.unavailable = true;
      this.p.logger.warn({ err: String(err) }, 'callback delivery paused: the database is unavailable');
    }
  }

  /** One pass, waited for: claim what the limits allow and send it. Returns how many were delivered. */
  async deliverDue(): Promise<number> {
    const results = await Promise.all(await this.claimAndSend());
    return results.filter(Boolean).length;
  }

  /** Delete old delivered and given-up rows (the maintenance sweep). */
  purge(): Promise<number> {
    return purgeOutbox(this.p);
  }

  /** Claim due rows for the free slots and start their sends, without waiting for them. */
  private async claimAndSend(): Promise<Promise<boolean>[]> {
    await this.recordDelivered();
    const { total, perApp } = this.limits;
    const free = total - this.inFlight.size;
    const claimed = await claimDue(this.p, { free, perApp, busy: this.busy, leaseMs: LEASE_MS });
    const sends = claimed.map((row) => this.track(row));
    this.backlog = claimed.length >= free || [...this.busy.values()].some((n) => n >= perApp);
    return sends;
  }

  /** Send a claimed row in its app's slot; the slot is freed when the send ends. */
  private track(row: OutboxRow): Promise<boolean> {
    const app = row.app_id;
    this.busy.set(app, (this.busy.get(app) ?? 0) + 1);
    const send = this.send(row).finally(() => {
      this.inFlight.delete(watched);
      const left = (this.busy.get(app) ?? 1) - 1;
      if (left > 0) this.busy.set(app, left);
      else this.busy.delete(app);
      if (this.backlog) this.kick();
    });
    // Nobody else may wait for it (the loop does not): a failure to release the row is logged here,
    // and the row's lease lapses so it is retried.
    const watched = send.catch((err: unknown) => this.failed(err, 'callback send failed'));
    this.inFlight.add(watched);
    return send;
  }

  /** Record deliveries whose UPDATE failed while the database was away; throws while it still is. */
  private async recordDelivered(): Promise<void> {
    for (const [id, at] of [...this.unrecorded]) {
      await this.markDelivered(id, at);
      this.unrecorded.delete(id);
    }
  }

  private async markDelivered(id: number, at: number): Promise<void> {
    await this.p.db.db.updateTable('callback_outbox').set({ delivered_at: at, lease_until: null, last_error: null }).where('id', '=', id).where('delivered_at', 'is', null).execute();
  }

  /** A OneTouch callback's headers: JSON signed as Authy signs (nonce and X-Authy-Signature). */
  private authyHeaders(apiKey: string, url: string, body: string): Record<string, string> {
    const nonce = String(Math.floor(this.p.clock.now() / 1000));
    return {
      'content-type': 'application/json',
      'user-agent': 'Twofold-Callback/1',
      'x-authy-signature-nonce': nonce,
      'x-authy-signature': signCallback({ apiKey, nonce, method: 'POST', url, body: JSON.parse(body) as unknown }),
      'x-forwarded-proto': new URL(url).protocol.replace(':', ''),
    };
  }

  private async send(row: OutboxRow): Promise<boolean> {
    const db = this.p.db.db;
    const { id, attempts } = row;
    // Our claim: the row is ours while the lease holds, and its value tells our lease from a later one.
    const leaseUntil = row.lease_until as number;
    let error: string;
    try {
      const apiKey = await loadAppSigningKey(this.p, row.app_id);
      if (!apiKey) throw new Error('no signing key stored for the app');
      // A OneTouch callback goes to the app's callback URL as it is now (an operator who corrects
      // it gets the queued callbacks delivered to the new address; the queued URL is the
      // fallback); a Verify v2 webhook to the URL its webhook had when the event happened.
      const app = row.format === 'authy' ? (await this.directory.apps([row.app_id], { fresh: true })).get(row.app_id) : undefined;
      const url = (app && callbackUrlFor(app, this.p.config.PUBLIC_URL)) ?? row.url;
      // The reads above may have stalled (a slow or unreachable database) past our lease, and then
      // another instance may have claimed the row, sent it and recorded it. Send only while the
      // row is still ours and undelivered, and end the send before the lease does: two instances
      // never send one callback at the same time, and one recorded as delivered is not sent again.
      const current = await db.selectFrom('callback_outbox').select(['delivered_at', 'lease_until']).where('id', '=', id).executeTakeFirst();
      if (!current || current.delivered_at !== null || current.lease_until !== leaseUntil) {
        this.p.logger.info({ outbox_id: id, app_id: row.app_id, attempts }, 'callback not sent: another instance took it over after our lease lapsed');
        return false;
      }
      const budgetMs = Math.min(SEND_TIMEOUT_MS, leaseUntil - LEASE_MARGIN_MS - this.p.clock.now());
      if (budgetMs <= 0) throw new Error('lease lapsed before the send (slow database)');
      const headers = row.format === 'twilio' ? twilioHeaders(apiKey, url, row.body) : this.authyHeaders(apiKey, url, row.body);
      // A webhook gets 5 s at most: a receiver that never answers holds its app's slot no longer.
      const timeoutMs = row.format === 'twilio' ? Math.min(budgetMs, WEBHOOK_TIMEOUT_MS) : budgetMs;
      const status = row.format === 'twilio' && this.publicOnly ? await postStatusOnly(this.publicOnly, url, headers, row.body, timeoutMs) : await fetchStatus(url, headers, row.body, timeoutMs);
      if (status >= 200 && status < 300) {
        const at = this.p.clock.now();
        try {
          await this.markDelivered(id, at);
        } catch (err) {
          // Sent, but the database went away before it could say so. Remember it and record it
          // first thing on a later pass: while our lease holds (15 s) no one sends it again, so
          // a short outage causes no duplicate.
          if (!isDatabaseUnavailable(err)) throw err;
          this.unrecorded.set(id, at);
        }
        this.p.logger.info({ outbox_id: id, app_id: row.app_id, attempts }, 'callback delivered');
        return true;
      }
      error = `HTTP ${status}`;
    } catch (err) {
      error = err instanceof Error ? `${err.name}: ${err.message}`.slice(0, 200) : 'unknown error';
    }
    // Release the row only if it is still ours: when our lease lapsed meanwhile, the row may be
    // another instance's now, and freeing it would let a third one send it alongside.
    const now = this.p.clock.now();
    const giveUp = now - row.created_at >= GIVE_UP_AFTER_MS;
    const released = await db
      .updateTable('callback_outbox')
      .set(giveUp ? { gave_up_at: now, lease_until: null, last_error: error } : { next_attempt_at: now + retryDelayMs(attempts), lease_until: null, last_error: error })
      .where('id', '=', id)
      .where('lease_until', '=', leaseUntil)
      .where('delivered_at', 'is', null)
      .executeTakeFirst();
    if (Number(released.numUpdatedRows) === 0) this.p.logger.info({ outbox_id: id, app_id: row.app_id, attempts, error }, 'callback delivery failed after our lease lapsed: left to the instance that took it over');
    else if (giveUp) this.p.logger.error({ outbox_id: id, app_id: row.app_id, attempts, error }, 'callback given up after 24 hours');
    else this.p.logger.warn({ outbox_id: id, app_id: row.app_id, attempts, error }, 'callback delivery failed, will retry');
    return false;
  }
}
