import { type Response, Router } from 'express';
import { HttpError } from '../../platform/errors.js';
import { StreamSlots } from '../../platform/stream-slots.js';
import { requireSecondFactorSession } from '../guards.js';
import { attemptChannel, type LoginAttempt } from '../login-attempts.js';
import type { RouteKit } from './kit.js';
import type { SecondFactor } from './second-factor.js';
import { AppError } from '../error-codes.js';

/** Status streams: a comment this often keeps proxies from closing an idle stream. */
const STATUS_PING_MS = 20_000;
/** Open status streams per login attempt (per instance): a new one closes the oldest. */
export const STATUS_STREAMS_PER_ATTEMPT = 3;
/** How often the shared timer of the status streams looks at them. */
const STATUS_TICK_MS = 1000;
/** An expired approval is re-read this long after its expiry (so the row reads as expired). */
const STATUS_EXPIRY_GRACE_MS = 250;

/** One open `GET /authy/status` event stream: what its refresh needs, nothing else. */
interface StatusStream {
  res: Response;
  attemptId: string;
  expiresAt: number;
  /** The last status sent (JSON), so an unchanged one is not sent again. */
  last: string;
  lastWriteAt: number;
  closed: boolean;
  close: () => void;
}

/** `GET /authy/status`: a login attempt's approval, as JSON or as Server-Sent Events. */
export function statusStreamRoutes(k: RouteKit, sf: SecondFactor): Router {
  const { p, attempts, clock, logger, streams } = k;
  const { liveAttempt } = sf;
  const r = Router();
  // Status of this attempt's approval: JSON, or Server-Sent Events with Accept: text/event-stream.
  // The stream never sets cookies (headers are long gone when the approval arrives): when it says
  // "approved" the SPA calls POST /session/complete, which checks the approval in the database and
  // rotates the session token.
  const statusView = (x: LoginAttempt) => ({
    status: attempts.approvalState(x),
    expires_at: x.approval_expires_at,
    number: x.approval_number,
    details: x.approval_details ? (JSON.parse(x.approval_details) as Record<string, string>) : {},
  });

  // The open event streams share one timer for their keep-alive comments and expiry instead of
  // holding two each: a waiting browser then costs its connection and little more (10,000 of
  // them are measured by bench/waiting-browsers.ts). Expiry is told within a tick of it.
  const statusStreams = new Set<StatusStream>();
  // A few per login attempt: a script holding one half session cannot open thousands.
  const statusSlots = new StreamSlots(STATUS_STREAMS_PER_ATTEMPT);
  let statusTicker: NodeJS.Timeout | undefined;
  const tickStatusStreams = () => {
    const now = clock.now();
    for (const st of statusStreams) {
      if (now >= st.expiresAt + STATUS_EXPIRY_GRACE_MS) {
        // Once: an expired approval closes the stream; anything else keeps it as it was.
        st.expiresAt = Number.POSITIVE_INFINITY;
        void refreshStatus(st);
      }
      else if (now - st.lastWriteAt >= STATUS_PING_MS) {
        st.res.write(': ping\n\n');
        st.lastWriteAt = now;
      }
    }
  };
  async function refreshStatus(st: StatusStream): Promise<void> {
    if (st.closed) return;
    try {
      const x = await attempts.get(st.attemptId);
      if (!x || st.closed) return;
      const v = statusView(x);
      const data = JSON.stringify(v);
      if (data !== st.last) {
        st.last = data;
        st.res.write(`event: status\ndata: ${data}\n\n`);
        st.lastWriteAt = clock.now();
      }
      if (v.status !== 'pending') st.close();
    } catch (err) {
      logger.error({ err }, 'status refresh failed');
    }
  }

  r.get('/authy/status', requireSecondFactorSession, async (req, res) => {
    const { a } = await liveAttempt(req, res);
    if (!a.approval_status) throw new HttpError(409, AppError.NO_APPROVAL, 'This login uses a code, not an approval');
    if (!(req.get('accept') ?? '').includes('text/event-stream')) {
      res.setHeader('Cache-Control', 'no-store');
      res.json(statusView(a));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.write('retry: 3000\n\n');
    const st: StatusStream = { res, attemptId: a.id, expiresAt: a.approval_expires_at ?? clock.now(), last: '', lastWriteAt: clock.now(), closed: false, close: () => {} };
    const onChange = () => void refreshStatus(st);
    // Subscribe before the first read so an answer between the two is not missed.
    const unsubscribeEvent = p.bus.subscribe(attemptChannel(a.id), onChange);
    // After the event bus reconnects, the answer may have been published while it was away.
    const unsubscribeResync = p.bus.onResync(onChange);
    let releaseSlot = () => {};
    st.close = () => {
      if (st.closed) return;
      st.closed = true;
      releaseSlot();
      unsubscribeEvent();
      unsubscribeResync();
      statusStreams.delete(st);
      if (statusStreams.size === 0 && statusTicker) {
        clearInterval(statusTicker);
        statusTicker = undefined;
      }
      streams.delete(st.close);
      res.end();
    };
    statusStreams.add(st);
    releaseSlot = statusSlots.take(a.id, st.close);
    if (!statusTicker) {
      statusTicker = setInterval(tickStatusStreams, STATUS_TICK_MS);
      statusTicker.unref();
    }
    streams.add(st.close);
    req.on('close', st.close);
    await refreshStatus(st);
  });

  return r;
}
