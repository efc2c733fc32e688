import type { Request, Response } from 'express';
import type { OneTouchPlatform } from '../schema-onetouch.js';
import type { Approvals, ApprovalForDevice } from './approvals.js';
import { userChannel, type UserEvent } from './user-events.js';
import { StreamSlots } from '../../platform/stream-slots.js';
import type { AuthenticatedDevice } from './devices.js';

export const PING_INTERVAL_MS = 20_000;
/** Open event streams per device (per instance): a new one closes the oldest. */
export const STREAMS_PER_DEVICE = 3;

/**
 * A device's Server-Sent Events stream (docs/device-api.md "Events stream"). Subscribes to the
 * user's bus channel before reading the backlog, so a request created in between is not lost;
 * events are handled one at a time, and each request is sent once per connection.
 */
export class DeviceStreams {
  private readonly open = new Set<Response>();
  private readonly slots = new StreamSlots(STREAMS_PER_DEVICE);

  constructor(
    private readonly p: OneTouchPlatform,
    private readonly approvals: Approvals,
    private readonly pingIntervalMs = PING_INTERVAL_MS,
  ) {}

  async serve(req: Request, res: Response, device: AuthenticatedDevice): Promise<void> {
    const header = req.get('last-event-id');
    const lastId = header && /^\d{1,15}$/.test(header) ? Number(header) : 0;
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('Connection', 'keep-alive');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    this.open.add(res);

    const sent = new Set<string>();
    let closed = false;
    let chain: Promise<void> = Promise.resolve();
    const queue: UserEvent[] = [];
    let backlogDone = false;

    const write = (s: string) => {
      if (!closed) res.write(s);
    };
    const sendRequest = (r: ApprovalForDevice) => {
      if (sent.has(r.uuid)) return;
      sent.add(r.uuid);
      write(`id: ${r.seq}\nevent: approval_request\ndata: ${JSON.stringify(r)}\n\n`);
    };
    const handle = async (e: UserEvent) => {
      if (closed) return;
      if (e.kind === 'created') {
        const r = await this.approvals.pendingOne(device.userId, e.uuid);
        if (r) sendRequest(r);
      } else if (e.kind === 'closed') {
        write(`event: approval_request_closed\ndata: ${JSON.stringify({ uuid: e.uuid, status: e.status })}\n\n`);
      } else if (e.kind === 'device_revoked' && e.device_id === device.id) {
        close();
      }
    };
    const enqueue = (e: UserEvent) => {
      chain = chain.then(() => handle(e)).catch((err: unknown) => this.p.logger.warn({ err }, 'device stream event failed'));
    };
    const unsubscribe = this.p.bus.subscribe(userChannel(device.userId), (payload) => {
      const e = payload as unknown as UserEvent;
      if (backlogDone) enqueue(e);
      else queue.push(e);
    });
    // After the event bus reconnects, requests created meanwhile were never announced: send the
    // pending ones this stream has not sent yet.
    const unsubscribeResync = this.p.bus.onResync(() => {
      chain = chain
        .then(async () => {
          if (closed) return;
          for (const r of (await this.approvals.pendingForUser(device.userId, 0)).reverse()) sendRequest(r);
        })
        .catch((err: unknown) => this.p.logger.warn({ err }, 'device stream resync failed'));
    });
    const ping = setInterval(() => write(': ping\n\n'), this.pingIntervalMs);
    ping.unref();
    const close = () => {
      if (closed) return;
      closed = true;
      releaseSlot();
      clearInterval(ping);
      unsubscribe();
      unsubscribeResync();
      this.open.delete(res);
      res.end();
    };
    const releaseSlot = this.slots.take(device.id, close);
    req.on('close', close);
    res.on('close', close);

    try {
      write('retry: 2000\n\n');
      // Oldest first, so a client tracking Last-Event-ID advances monotonically.
      const backlog = (await this.approvals.pendingForUser(device.userId, lastId)).reverse();
      for (const r of backlog) sendRequest(r);
    } catch (err) {
      this.p.logger.warn({ err }, 'device stream backlog failed');
      close();
      return;
    }
    backlogDone = true;
    for (const e of queue.splice(0)) enqueue(e);
  }

  /** End every open stream (shutdown). */
  closeAll(): void {
    for (const res of this.open) res.end();
    this.open.clear();
  }
}
