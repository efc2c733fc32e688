import type { Selectable } from 'kysely';
import { signCallback } from '../../platform/authy-signature.js';
import { twilioSignature } from '../../platform/twilio-signature.js';
import { publicOnlyAgent } from '../../platform/egress.js';
import { postStatusOnly } from './webhook-sink.js';
import { isDatabaseUnavailable } from '../../platform/db.js';
import { sql } from '../../platform/kysely.js';
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
/** Rows one delivery pass claims at most. */
const CLAIM_BATCH = 50;

export function retryDelayMs(attempts: number): number {
  return Math.min(RETRY_BASE_MS * 2 ** Math.max(0, Math.min(attempts - 1, 30)), RETRY_MAX_MS);
}

/** The app's callback URL: its registered one, or for the built-in app `<PUBLIC_URL>/authy/callback`. */
export function callbackUrlFor(app: Pick<AppInfo, 'callbackUrl' | 'builtin'>, publicUrl: string): string | null {
  if (app.callbackUrl) return app.callbackUrl;
  return app.builtin ? `${publicUrl}/authy/callback` : null;
}

type Row = Selectable<OneTouchTables['approval_requests']>;
type OutboxRow = Selectable<OneTouchTables['callback_outbox']>;

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
 * same row at once), POSTs them signed, retries with backoff for a day. Runs on a timer and is
 * kicked right after an answer commits.
 */
export class CallbackWorker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  private unavailable = false;
  /** Outbox ids sent (2xx) whose delivery could not be recorded yet, with when they were sent. */
  private readonly unrecorded = new Map<number, number>();

  /**
   * Production: v2 webhooks (URLs an app chose, unlike the callback URLs operators set) connect to
   * public addresses only, judged when connecting (DNS rebinding included).
   */
  private readonly publicOnly: ReturnType<typeof publicOnlyAgent> | undefined;

  constructor(
    private readonly p: OneTouchPlatform,
    private readonly directory: ServiceDirectory,
    private readonly intervalMs = 500,
  ) {
    this.publicOnly = p.config.production ? publicOnlyAgent() : undefined;
  }

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => this.kick(), this.intervalMs);
    this.timer.unref();
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
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
        await this.deliverDue();
        if (this.unavailable) this.p.logger.info('callback delivery resumed: the database is back');
        this.unavailable = false;
      } catch (err) {
        if (!isDatabaseUnavailable(err)) this.p.logger.error({ err }, 'callback delivery pass failed');
        else if (!this.unavailable) {
          // Once per outage, not every half second; the timer retries until the database is back.
          this.unavailable = true;
          this.p.logger.warn({ err: String(err) }, 'callback delivery paused: the database is unavailable');
        }
      }
    } while (this.again && !this.stopped);
  }

  /** One pass: claim and send every due row (at most 50). Returns how many were delivered. */
  async deliverDue(): Promise<number> {
    await this.recordDelivered();
    const claimed = this.p.db.kind === 'postgres' ? await this.claimPostgres() : await this.claimEach();
    // A full batch means more may be due: go round again.
    if (claimed.length === CLAIM_BATCH) this.again = true;
    const results = await Promise.all(claimed.map((r) => this.send(r)));
    return results.filter(Boolean).length;
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

  /**
   * PostgreSQL: one statement claims a batch. Rows another instance is claiming at this moment are
   * skipped (SKIP LOCKED) rather than waited for, so instances draining together never block on
   * each other nor take the same row; the lease then keeps the row theirs while it is sent.
   */
  private async claimPostgres(): Promise<OutboxRow[]> {
    const now = this.p.clock.now();
    const { rows } = await sql<OutboxRow>`
      update callback_outbox set lease_until = ${now + LEASE_MS}, attempts = attempts + 1
      where id in (
        select id from callback_outbox
        where delivered_at is null and gave_up_at is null and next_attempt_at <= ${now}
          and (lease_until is null or lease_until <= ${now})
        order by next_attempt_at
        limit ${CLAIM_BATCH}
        for update skip locked
      )
      returning *`.execute(this.p.db.db);
    return rows;
  }

  /** SQLite (one writer at a time): select due rows, then claim each by a conditional update. */
  private async claimEach(): Promise<OutboxRow[]> {
    const db = this.p.db.db;
    const now = this.p.clock.now();
    const due = await db
      .selectFrom('callback_outbox')
      .select('id')
      .where('delivered_at', 'is', null)
      .where('gave_up_at', 'is', null)
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', now)]))
      .orderBy('next_attempt_at')
      .limit(CLAIM_BATCH)
      .execute();
    const claimed: OutboxRow[] = [];
    for (const { id } of due) {
      const row = await db
        .updateTable('callback_outbox')
        .set((eb) => ({ lease_until: now + LEASE_MS, attempts: eb('attempts', '+', 1) }))
        .where('id', '=', id)
        .where('delivered_at', 'is', null)
        .where('gave_up_at', 'is', null)
        .where('next_attempt_at', '<=', now)
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', now)]))
        .returningAll()
        .executeTakeFirst();
      if (row) claimed.push(row);
    }
    return claimed;
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
      // A webhook gets 5 s at most: a receiver that never answers holds up its batch no longer.
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
