import { isIP } from 'node:net';
import type { Request, RequestHandler } from 'express';
import type { Kysely } from 'kysely';
import type { AppDatabase } from '../schema.js';
import type { AuditEvent } from '../../platform/audit.js';
import { clientNetwork } from '../../platform/client-network.js';
import type { AppPlatform } from '../schema.js';
import { HttpError } from '../../platform/errors.js';
import { boundedJson } from '../../platform/http.js';
import { type AuthyClient, ServiceCode, VerifyServiceError } from '../authy-client.js';
import { requireJsonAndOrigin } from '../guards.js';
import type { LoginAttempts } from '../login-attempts.js';
import { PasswordThrottle, type PasswordClient } from '../password-throttle.js';
import type { EmailChanges } from '../email-changes.js';
import type { PhoneChanges } from '../phone-changes.js';
import type { PasswordResets } from '../password-resets.js';
import type { Passkeys } from '../passkeys.js';
import type { RememberedBrowsers } from '../remembered-browsers.js';
import type { PendingSignups } from '../pending-signups.js';
import type { RecoveryCodes } from '../recovery-codes.js';
import type { SessionClient, SessionStore } from '../sessions.js';
import { AppUsers } from '../users.js';
import { CallbackNonces } from '../callback-nonces.js';
import { AppError } from '../error-codes.js';
import { noticeMail, type NoticeKind, type RequestOrigin } from '../account-mail.js';
import { emptySchema, parseBody } from '../validation.js';

export interface AppRoutesDeps {
  p: AppPlatform;
  client: AuthyClient;
  sessions: SessionStore;
  attempts: LoginAttempts;
  recovery: RecoveryCodes;
  pending: PendingSignups;
  resets: PasswordResets;
  remembered: RememberedBrowsers;
  emailChanges: EmailChanges;
  phoneChanges: PhoneChanges;
  passkeys: Passkeys;
  apiKey: string;
  /** Open SSE streams, closed on stop. */
  streams: Set<() => void>;
}

export const userRef = (id: number) => `app-user:${id}`;

/** Notices one address may be sent per hour (see `notify`). */
export const NOTICES_PER_HOUR = 20;

/** "40 seconds", "1 minute", "7 minutes": for a person reading when to try again. */
export function waitInWords(seconds: number): string {
  if (seconds < 60) return seconds === 1 ? '1 second' : `${seconds} seconds`;
  const minutes = Math.ceil(seconds / 60);
  return minutes === 1 ? '1 minute' : `${minutes} minutes`;
}

/** Map a verification-service failure to what the browser may see (the cause is logged). */
export function fromService(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  if (e instanceof VerifyServiceError) {
    if (e.status === 429) {
      const wait = e.retryAfterSeconds ?? 60;
      return new HttpError(429, AppError.RATE_LIMITED, `Too many requests; please try again in ${waitInWords(wait)}`, { reason: `service ${e.code}`, headers: { 'Retry-After': String(wait) }, details: { retry_after: wait } });
    }
    if (e.code === ServiceCode.TOO_MANY_DEVICES) return new HttpError(409, AppError.TOO_MANY_DEVICES, e.message, { reason: 'service device cap' });
    if (e.status === 0 || e.status >= 500) return new HttpError(503, AppError.SERVICE_UNAVAILABLE, 'The verification service is unavailable; please try again', { reason: `service ${e.code}: ${e.message}` });
    return new HttpError(502, AppError.SERVICE_REFUSED, 'The verification service refused the request', { reason: `service ${e.status} ${e.code}: ${e.message}` });
  }
  throw e;
}

/**
 * What every group of the web app's routes shares: its stores, the request guards, the client's
 * address, the audit trail and the limits that span groups (codes per IP, passwords).
 */
export function routeKit(d: AppRoutesDeps) {
  const { p, client, sessions, attempts, recovery, pending, resets, remembered, emailChanges, phoneChanges, passkeys } = d;
  const { config, clock, audit, logger } = p;
  const db = p.db.db;
  const json = boundedJson({ limit: '16kb', type: () => true });
  const mutate = [requireJsonAndOrigin(config), json];
  /** For routes that take no parameters: the body, when there is one, must still be a JSON object. */
  const noParams: RequestHandler = (req, _res, next) => {
    parseBody(emptySchema, req.body);
    next();
  };
  const passwords = new PasswordThrottle(p.limits, config, db, clock);
  // Codes from one client, whichever account or attempt they are for: the per-attempt and
  // per-account budgets do not see one address guessing across many accounts.
  const codeIp = p.limits.create({ name: 'app:code:ip', points: config.CODE_PER_IP_LIMIT, durationSeconds: 15 * 60, blockSeconds: 15 * 60 });

  const ipOf = (req: Request) => req.ip ?? req.socket.remoteAddress ?? 'unknown';
  const eventOf = (req: Request, e: Omit<AuditEvent, 'ip' | 'userAgent'>): AuditEvent => ({ ...e, ip: ipOf(req), userAgent: req.get('user-agent') ?? null });
  /** Record an event on its own: a failure to write it is logged, never the request's failure. */
  const record = (req: Request, e: Omit<AuditEvent, 'ip' | 'userAgent'>) => audit.record(eventOf(req, e)).catch((err: unknown) => logger.error({ err }, 'audit write failed'));
  /** Record an event in `trx`, with the writes it reports: a failure fails them all. */
  const recordIn = (req: Request, e: Omit<AuditEvent, 'ip' | 'userAgent'>, trx: Kysely<AppDatabase>) => audit.record(eventOf(req, e), trx);

  const tooMany = (retryAfterSeconds: number, reason: string) =>
    new HttpError(429, AppError.RATE_LIMITED, 'Too many attempts; please wait before trying again', {
      reason,
      headers: { 'Retry-After': String(retryAfterSeconds) },
      details: { retry_after: retryAfterSeconds },
    });

  /** 429 for another code asked for before the last one's cool-down ended. */
  const coolingDown = (retryAfterSeconds: number) =>
    new HttpError(429, AppError.COOL_DOWN, `Please wait ${retryAfterSeconds} s before asking for another code`, {
      headers: { 'Retry-After': String(retryAfterSeconds) },
      details: { retry_after: retryAfterSeconds },
    });

  /** Count one event on each limiter in turn (before the work they guard, so a burst cannot slip past); 429 at the first refusal. */
  async function consumeLimits(pairs: [ReturnType<typeof p.limits.create>, string][], reason: string) {
    for (const [limiter, key] of pairs) {
      const res = await limiter.consume(key);
      if (!res.allowed) throw tooMany(res.retryAfterSeconds, reason);
    }
  }
  const consumeCodeIp = (req: Request) => consumeLimits([[codeIp, clientNetwork(ipOf(req))]], 'codes per ip');
  // Emailed links from one client: a link is 256 random bits, so this bounds what a client may
  // cost (each try is a lookup, a reset's a password hash), not a guess's odds.
  const linkIp = p.limits.create({ name: 'app:link:ip', points: config.LINK_PER_IP_LIMIT, durationSeconds: 15 * 60, blockSeconds: 15 * 60 });
  const consumeLinkIp = (req: Request) => consumeLimits([[linkIp, clientNetwork(ipOf(req))]], 'links per ip');

  /** Count a password try (see PasswordThrottle); 429 with `Retry-After` when refused. */
  async function throttlePassword(req: Request, email: string, userId: number | undefined, o: { ipLimits: boolean }): Promise<PasswordClient> {
    const c = await passwords.client(req, ipOf(req), userId);
    const refusal = await passwords.consume(email, c, o);
    if (!refusal) return c;
    if (refusal.reason === 'account_ceiling') {
      throw new HttpError(429, AppError.ACCOUNT_LOCKED, 'Too many wrong passwords for this account. Log in from a browser you have used for it before, or wait.', {
        reason: 'password ceiling',
        headers: { 'Retry-After': String(refusal.retryAfterSeconds) },
        details: { retry_after: refusal.retryAfterSeconds },
      });
    }
    throw tooMany(refusal.retryAfterSeconds, `password per ${refusal.reason}`);
  }

  // Row locks where the database has them (SQLite's transactions hold its only writer instead).
  const users = new AppUsers(db, clock, { rowLocks: p.db.raw.kind === 'postgres' });
  const callbackNonces = new CallbackNonces(db, clock);

  // What a mail says of where a request came from: an address only if it is one (a proxy hop
  // counted wrong must not let a client write its own text into a genuine email).
  const originOf = (req: Request): RequestOrigin => ({ at: clock.now(), ip: isIP(ipOf(req)) ? ipOf(req) : 'unknown', userAgent: req.get('user-agent') });
  // Notices per recipient: a person who can make an account's changes cannot make its owner's
  // mailbox a target (over the limit a notice is dropped, and the drop logged).
  const noticesPerAddress = p.limits.create({ name: 'app:notice:address', points: NOTICES_PER_HOUR, durationSeconds: 3600 });
  const clientOf = (req: Request): SessionClient => ({ ip: ipOf(req), userAgent: req.get('user-agent') });
  /**
   * Tell the account's owner by email what `req` did (after the answer's work, without waiting
   * for the mail: a notice never delays or fails the request).
   */
  function notify(req: Request, account: number | { email: string }, kind: NoticeKind): void {
    const origin = originOf(req);
    void (typeof account === 'number' ? users.byId(account) : Promise.resolve(account))
      .then(async (u) => {
        if (!u) return;
        if (!(await noticesPerAddress.consume(u.email)).allowed) return logger.warn({ reason: kind }, 'notice dropped: too many to one address this hour');
        p.mail.post(noticeMail(u.email, kind, origin));
      })
      .catch((err: unknown) => logger.error({ err }, 'notice not sent'));
  }

  /**
   * Whoever else held the account must lose every way back in that does not need its password:
   * sessions (but `keep`), remembered browsers, reset links, waiting email and phone changes, and
   * the passkeys' sign-in on their own.
   * Returns how many sessions ended and how many remembered browsers were forgotten.
   */
  async function endOtherAccess(userId: number, trx: Kysely<AppDatabase>, keep?: string): Promise<{ sessions: number; rememberedBrowsers: number }> {
    const ended = await sessions.endAllFor(userId, trx, keep);
    const forgotten = await remembered.forgetAll(userId, trx);
    await resets.endFor(userId, trx);
    await emailChanges.endFor(userId, trx);
    await phoneChanges.end(userId, trx);
    // A passkey someone else added signs in alone no more (it needs the password first again).
    await passkeys.distrustAll(userId, trx);
    return { sessions: ended, rememberedBrowsers: forgotten };
  }

  /** The signed-in account of a full session, with its service user (every full session has one). */
  async function currentAccount(req: Request) {
    const u = await users.byId(req.appSession!.userId);
    if (!u?.authy_id) throw new HttpError(401, AppError.UNAUTHENTICATED, 'Please log in');
    return { ...u, authy_id: u.authy_id };
  }

  /**
   * A factor of the account changed (added, removed, replaced): no browser skips the second
   * factor any more, and the owner is told.
   */
  async function factorChanged(req: Request, userId: number, kind: NoticeKind): Promise<void> {
    await remembered.forgetAll(userId);
    notify(req, userId, kind);
  }

  return { p, client, sessions, attempts, recovery, pending, resets, remembered, emailChanges, phoneChanges, passkeys, factorChanged, endOtherAccess, currentAccount, config, clock, audit, logger, db, mutate, noParams, passwords, consumeCodeIp, ipOf, record, recordIn, eventOf, tooMany, coolingDown, consumeLimits, consumeLinkIp, throttlePassword, users, callbackNonces, originOf, clientOf, notify, apiKey: d.apiKey, streams: d.streams };
}

export type RouteKit = ReturnType<typeof routeKit>;
