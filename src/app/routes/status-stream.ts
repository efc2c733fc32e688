import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Request, Router } from 'express';
import { HttpError } from '../../platform/errors.js';
import { logAccess, type EarlyHandler } from '../../platform/http.js';
import { requireSecondFactorSession } from '../guards.js';
import { attemptChannel, type ApprovalState, type LoginAttempt } from '../login-attempts.js';
import { cookiePolicy, readSessionCookie } from '../sessions.js';
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
  res: ServerResponse;
  attemptId: string;
  expiresAt: number;
  /**
   * The last status sent, so an unchanged one is not sent again. The status is all that changes
   * in what a stream sends: an attempt's approval (number, details, expiry) is attached once
   * (`LoginAttempts.attachApproval`) before a stream can open, and `expiresAt` above is read once.
   */
  last: ApprovalState | null | undefined;
  lastWriteAt: number;
}

/** The open streams of one login attempt (oldest first) and the attempt's one bus subscription. */
interface AttemptStreams {
  streams: StatusStream[];
  unsubscribe: () => void;
}

/**
 * An event stream outlives its request's trip through Express: nothing calls `next` again, yet
 * `req.next` keeps every router's frame of that trip for as long as the browser waits (2.9 KB
 * of heap per stream), and the session and the parsed URL stay on the request (0.4 KB). The
 * stream needs none of them once its headers are sent.
 */
function releaseRouting(req: Request): void {
  req.next = undefined;
  req.appSession = undefined;
  (req as { _parsedUrl?: unknown })._parsedUrl = undefined;
}

/** The route pattern of the status, as the access log names it. */
const STATUS_ROUTE = 'GET /authy/status';
/** What an event stream answers with, before its first event. */
const STREAM_HEAD = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' };

/** Whether a `GET /authy/status` request asks for the event stream rather than JSON. */
const wantsStream = (accept: string | undefined) => (accept ?? '').includes('text/event-stream');

/** The status stream answered before Express (`WebApp.tryServeStatusStream`). */
export type StatusStreamHook = EarlyHandler;

export interface StatusStreamRoutes {
  router: Router;
  tryServe: StatusStreamHook;
}

/**
 * `GET /authy/status`: a login attempt's approval, as JSON or as Server-Sent Events.
 *
 * A browser's event stream is answered straight from `node:http` (`tryServe`), before Express:
 * Express gives each request and response a prototype of its own, keeps the response's headers
 * and the access log's closure, all for as long as the browser waits (about 75 MB for 10,000
 * waiting browsers). Only a stream the route below would open is opened there: a session with a
 * live login attempt awaiting an approval. Anything else (no or an ended session or attempt, an
 * attempt without an approval, a failed read) goes to Express, whose route answers it as always
 * (the guards, the `{code, message}` errors, the session's removal).
 */
export function statusStreamRoutes(k: RouteKit, sf: SecondFactor, o: { responseHeaders?: ((res: ServerResponse) => void) | undefined } = {}): StatusStreamRoutes {
  const { p, attempts, clock, logger, streams, sessions } = k;
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

  // A waiting browser costs its connection and little more (10,000 of them are measured by
  // bench/waiting-browsers.ts): the open streams are kept in two maps and share one timer for
  // their keep-alive comments and expiry (told within a tick of it), one listener for their
  // sockets' end and one for event-bus resyncs; each login attempt has one bus subscription
  // for its streams, however many (a few: a script holding one half session cannot open
  // thousands), and one read of the attempt refreshes them all.
  const open = new Map<ServerResponse, StatusStream>();
  const byAttempt = new Map<string, AttemptStreams>();
  let ticker: NodeJS.Timeout | undefined;
  let unsubscribeResync: (() => void) | undefined;

  const tick = () => {
    const now = clock.now();
    for (const st of open.values()) {
      if (now >= st.expiresAt + STATUS_EXPIRY_GRACE_MS) {
        // Once: an expired approval closes the stream; anything else keeps it as it was.
        st.expiresAt = Number.POSITIVE_INFINITY;
        void refresh(st.attemptId);
      } else if (now - st.lastWriteAt >= STATUS_PING_MS) {
        st.res.write(': ping\n\n');
        st.lastWriteAt = now;
      }
    }
  };
  // After the event bus reconnects, answers may have been published while it was away.
  const resync = () => {
    for (const id of byAttempt.keys()) void refresh(id);
  };

  /** Re-read the attempt; tell each of its streams a changed status, and end them once decided. */
  async function refresh(attemptId: string): Promise<void> {
    try {
      if (!byAttempt.has(attemptId)) return;
      const x = await attempts.get(attemptId);
      const entry = byAttempt.get(attemptId);
      if (!x || !entry) return;
      const v = statusView(x);
      let event: string | undefined;
      for (const st of [...entry.streams]) {
        if (st.last !== v.status) {
          event ??= `event: status\ndata: ${JSON.stringify(v)}\n\n`;
          st.last = v.status;
          st.res.write(event);
          st.lastWriteAt = clock.now();
        }
        if (v.status !== 'pending') close(st);
      }
    } catch (err) {
      logger.error({ err }, 'status refresh failed');
    }
  }

  function close(st: StatusStream): void {
    if (open.get(st.res) !== st) return;
    open.delete(st.res);
    const entry = byAttempt.get(st.attemptId);
    if (entry) {
      entry.streams.splice(entry.streams.indexOf(st), 1);
      if (entry.streams.length === 0) {
        entry.unsubscribe();
        byAttempt.delete(st.attemptId);
      }
    }
    if (open.size === 0) {
      clearInterval(ticker);
      ticker = undefined;
      unsubscribeResync?.();
      unsubscribeResync = undefined;
    }
    st.res.end();
  }
  // One listener for every stream's socket: `this` is the response whose connection closed.
  function onStreamClose(this: ServerResponse): void {
    const st = open.get(this);
    if (st) close(st);
  }
  streams.add(() => {
    for (const st of [...open.values()]) close(st);
  });

  /** Register a stream whose headers are sent: its attempt's subscription, slot, the timer. */
  function add(st: StatusStream): void {
    const id = st.attemptId;
    let entry = byAttempt.get(id);
    if (entry) entry.streams.push(st);
    else {
      // Subscribe before the first read (by the caller) so an answer between the two is not missed.
      entry = { streams: [st], unsubscribe: p.bus.subscribe(attemptChannel(id), () => void refresh(id)) };
      byAttempt.set(id, entry);
    }
    open.set(st.res, st);
    st.res.on('close', onStreamClose);
    if (!ticker) {
      ticker = setInterval(tick, STATUS_TICK_MS);
      ticker.unref();
      unsubscribeResync = p.bus.onResync(resync);
    }
    // A browser that left while its attempt was read has closed before the listener was there.
    if (st.res.destroyed) close(st);
    else if (entry.streams.length > STATUS_STREAMS_PER_ATTEMPT) close(entry.streams[0]!);
  }

  r.get('/authy/status', requireSecondFactorSession, async (req, res) => {
    const { a } = await liveAttempt(req, res);
    if (!a.approval_status) throw new HttpError(409, AppError.NO_APPROVAL, 'This login uses a code, not an approval');
    if (!wantsStream(req.get('accept'))) {
      res.setHeader('Cache-Control', 'no-store');
      res.json(statusView(a));
      return;
    }
    releaseRouting(req);
    await openStream(res, a);
  });

  /** Answer with the event stream of a live attempt awaiting an approval. */
  async function openStream(res: ServerResponse, a: LoginAttempt): Promise<void> {
    res.writeHead(200, STREAM_HEAD);
    res.write('retry: 3000\n\n');
    add({ res, attemptId: a.id, expiresAt: a.approval_expires_at ?? clock.now(), last: undefined, lastWriteAt: clock.now() });
    await refresh(a.id);
  }

  const cookieName = cookiePolicy(k.config).name;
  /**
   * The attempt whose stream the route would open for this request (the session of
   * `loadSession`, the attempt `requireSecondFactorSession` and `liveAttempt` accept, with an
   * approval), or undefined: the route answers that request.
   */
  async function streamableAttempt(req: IncomingMessage): Promise<LoginAttempt | undefined> {
    const token = readSessionCookie(req as Request, cookieName);
    const s = token ? await sessions.find(token) : undefined;
    if (!s?.loginAttemptId) return undefined;
    const a = await attempts.get(s.loginAttemptId);
    return attempts.isLive(a) && a.user_id === s.userId && a.approval_status ? a : undefined;
  }

  const tryServe: StatusStreamHook = (req, res, fallback) => {
    // Only what the route above takes (Express also routes HEAD, other cases and a trailing slash to it; those stay there).
    if (req.method !== 'GET' || !wantsStream(req.headers.accept)) return false;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    if ((q < 0 ? url : url.slice(0, q)) !== '/authy/status') return false;
    const start = process.hrtime.bigint();
    streamableAttempt(req).then(
      (a) => {
        if (!a) return fallback(req, res);
        o.responseHeaders?.(res);
        res.on('finish', () => logAccess(logger, STATUS_ROUTE, res, start));
        return openStream(res, a);
      },
      () => fallback(req, res),
    )
      .catch((err: unknown) => logger.error({ err, route: STATUS_ROUTE }, 'request failed'));
    return true;
  };

  return { router: r, tryServe };
}
