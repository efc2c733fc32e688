import { Router, type Request, type Response } from 'express';
import type { Platform } from '../platform/context.js';
import { randomToken, sha256Hex } from '../platform/crypto.js';
import { HttpError } from '../platform/errors.js';
import { boundedJson } from '../platform/http.js';
import { AuditType, type AuditEvent } from '../platform/audit.js';
import { verifyCallbackSignature } from '../platform/authy-signature.js';
import { AuthyClient, VerifyServiceError } from './authy-client.js';
import { loadSession, requireFullSession, requireJsonAndOrigin, requireRecentAuth, requireSecondFactorSession, safeReturnTo } from './guards.js';
import { attemptChannel, LoginAttempts, SMS_COOL_DOWN_MS, type LoginAttempt } from './login-attempts.js';
import { clientNetwork } from '../platform/client-network.js';
import { StreamSlots } from '../platform/stream-slots.js';
import { PasswordThrottle, type PasswordClient } from './password-throttle.js';
import { dummyHash, hashPassword, verifyPassword } from './passwords.js';
import { RECOVERY_CODE_COUNT, type RecoveryCodes } from './recovery-codes.js';
import { cookiePolicy, readSessionCookie, REAUTH_WINDOW_MS, signupCookiePolicy, SessionStore, type Session } from './sessions.js';
import { PENDING_SIGNUP_MAX_TRIES, PENDING_SIGNUP_TTL_MS, PHONE_CODE_COOL_DOWN_MS, type PendingSignup, type PendingSignups } from './pending-signups.js';
import { shortBrowserName } from './user-agent.js';
import { activationSchema, codeSchema, deviceIdSchema, emptySchema, loginSchema, parseBody, reauthSchema, recoveryCodeSchema, signupSchema, totpAppIdSchema } from './validation.js';
import { parsePhoneNumberFromString } from 'libphonenumber-js';

/** OneTouch requests for a login expire after this (120 s for Twofold's own app; docs/authy-compat.md). */
const APPROVAL_SECONDS = 120;
/** Callback nonces are Unix seconds; older (or further in the future) than this are refused. */
const CALLBACK_NONCE_WINDOW_SECONDS = 300;
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

export interface AppRoutesDeps {
  p: Platform;
  client: AuthyClient;
  sessions: SessionStore;
  attempts: LoginAttempts;
  recovery: RecoveryCodes;
  pending: PendingSignups;
  apiKey: string;
  /** Open SSE streams, closed on stop. */
  streams: Set<() => void>;
}

const userRef = (id: number) => `app-user:${id}`;
/** Phone codes at signup: 6 digits (the service's default of 4 is too easy to guess). */
const PHONE_CODE_LENGTH = 6;

function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: string } | undefined;
  return err?.code === '23505' || (typeof err?.code === 'string' && err.code.startsWith('SQLITE_CONSTRAINT'));
}

/** "40 seconds", "1 minute", "7 minutes": for a person reading when to try again. */
function waitInWords(seconds: number): string {
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.ceil(seconds / 60);
  return minutes === 1 ? '1 minute' : `${minutes} minutes`;
}

/** Map a verification-service failure to what the browser may see (the cause is logged). */
function fromService(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  if (e instanceof VerifyServiceError) {
    if (e.status === 429) {
      const wait = e.retryAfterSeconds ?? 60;
      return new HttpError(429, 'RATE_LIMITED', `Too many requests; please try again in ${waitInWords(wait)}`, { reason: `service ${e.code}`, headers: { 'Retry-After': String(wait) }, details: { retry_after: wait } });
    }
    if (e.code === 'TOO_MANY_DEVICES') return new HttpError(409, 'TOO_MANY_DEVICES', e.message, { reason: 'service device cap' });
    if (e.status === 0 || e.status >= 500) return new HttpError(503, 'SERVICE_UNAVAILABLE', 'The verification service is unavailable; please try again', { reason: `service ${e.code}: ${e.message}` });
    return new HttpError(502, 'SERVICE_REFUSED', 'The verification service refused the request', { reason: `service ${e.status} ${e.code}: ${e.message}` });
  }
  throw e;
}

export function appRoutes(d: AppRoutesDeps): Router {
  const { p, client, sessions, attempts, recovery, pending } = d;
  const { config, clock, audit, logger } = p;
  const db = p.db.db;
  const r = Router();
  const json = boundedJson({ limit: '16kb', type: () => true });
  const csrf = requireJsonAndOrigin(config);
  const mutate = [csrf, json];
  const cookieName = cookiePolicy(config).name;
  r.use(['/user', '/session', '/authy'], loadSession(sessions, cookieName));

  const passwords = new PasswordThrottle(p.limits, config, db, clock);
  const signupIp = p.limits.create({ name: 'app:signup:ip', points: config.LOGIN_PER_IP_LIMIT, durationSeconds: 3600 });
  const totpConfirm = p.limits.create({ name: 'app:totp-confirm:user', points: config.OTP_MAX_ATTEMPTS, durationSeconds: 15 * 60, blockSeconds: 15 * 60 });
  const recoveryPerUser = p.limits.create({ name: 'app:recovery:user', points: config.RECOVERY_PER_USER_LIMIT, durationSeconds: 3600, blockSeconds: 3600 });
  const signupCookie = signupCookiePolicy(config);
  // Codes from one client, whichever account or attempt they are for: the per-attempt and
  // per-account budgets do not see one address guessing across many accounts.
  const codeIp = p.limits.create({ name: 'app:code:ip', points: config.CODE_PER_IP_LIMIT, durationSeconds: 15 * 60, blockSeconds: 15 * 60 });
  const consumeCodeIp = (req: Request) => consumeLimits([[codeIp, clientNetwork(ipOf(req))]], 'codes per ip');

  const ipOf = (req: Request) => req.ip ?? req.socket.remoteAddress ?? 'unknown';
  const record = (req: Request, e: Omit<AuditEvent, 'ip' | 'userAgent'>) =>
    audit.record({ ...e, ip: ipOf(req), userAgent: req.get('user-agent') ?? null }).catch((err: unknown) => logger.error({ err }, 'audit write failed'));

  const tooMany = (retryAfterSeconds: number, reason: string) =>
    new HttpError(429, 'RATE_LIMITED', 'Too many attempts; please wait before trying again', {
      reason,
      headers: { 'Retry-After': String(retryAfterSeconds) },
      details: { retry_after: retryAfterSeconds },
    });

  /**
   * Growing delays: a short window (15 min) and, once that has been exceeded a few times, a day.
   * Counted before the password is checked, so a concurrent burst cannot slip past the limit.
   */
  async function consumeLimits(pairs: [ReturnType<typeof p.limits.create>, string][], reason: string) {
    for (const [limiter, key] of pairs) {
      const res = await limiter.consume(key);
      if (!res.allowed) throw tooMany(res.retryAfterSeconds, reason);
    }
  }

  /** Count a password try (see PasswordThrottle); 429 with `Retry-After` when refused. */
  async function throttlePassword(req: Request, email: string, userId: number | undefined, o: { ipLimits: boolean }): Promise<PasswordClient> {
    const client = await passwords.client(req, ipOf(req), userId);
    const refusal = await passwords.consume(email, client, o);
    if (!refusal) return client;
    if (refusal.reason === 'account_ceiling') {
      throw new HttpError(429, 'ACCOUNT_LOCKED', 'Too many wrong passwords for this account. Log in from a browser you have used for it before, or wait.', {
        reason: 'password ceiling',
        headers: { 'Retry-After': String(refusal.retryAfterSeconds) },
        details: { retry_after: refusal.retryAfterSeconds },
      });
    }
    throw tooMany(refusal.retryAfterSeconds, `password per ${refusal.reason}`);
  }

  const getUser = (id: number) => db.selectFrom('app_users').selectAll().where('id', '=', id).executeTakeFirst();

  /**
   * The session's live attempt: a half session's login, or a full session's step-up. When it is
   * over, a half session ends (401); a full session stays logged in and is told to start the
   * step-up again (409).
   */
  async function liveAttempt(req: Request, res: Response): Promise<{ s: Session; a: LoginAttempt }> {
    const s = req.appSession!;
    const a = await attempts.get(s.loginAttemptId!);
    if (!attempts.isLive(a) || a.user_id !== s.userId) {
      if (s.state === 'full') throw new HttpError(409, 'REAUTH_EXPIRED', 'This confirmation has ended; please confirm again');
      await sessions.delete(s.tokenHash);
      sessions.clearCookie(res);
      throw new HttpError(401, 'LOGIN_EXPIRED', 'This login has ended; please log in again');
    }
    return { s, a };
  }

  /**
   * Too many wrong codes: the attempt dies and so does the session, also a full one in a step-up
   * (whoever guesses codes in it may hold a stolen session cookie).
   */
  async function endAttempt(res: Response, s: Session, a: LoginAttempt): Promise<HttpError> {
    await attempts.kill(a.id);
    await sessions.delete(s.tokenHash);
    sessions.clearCookie(res);
    return new HttpError(403, 'TOO_MANY_ATTEMPTS', 'Too many wrong codes. Please log in again.');
  }

  /**
   * The second factor of the attempt succeeded: complete the attempt and change the session in
   * one transaction, so that neither a crash nor a concurrent request can leave one done without
   * the other. A half session becomes a full one (new token); a full session's step-up is recorded
   * as a fresh proof. `first` runs before, in the same transaction (a recovery code's redemption):
   * when it declines, nothing changes and undefined is returned. Throwing rolls everything back.
   */
  async function completeSecondFactor(
    s: Session,
    a: LoginAttempt,
    o: { requireApproved: boolean; first?: (trx: typeof db) => Promise<boolean> },
  ): Promise<{ token: string } | { reauthAt: number } | undefined> {
    return db.transaction().execute(async (trx) => {
      if (o.first && !(await o.first(trx))) return undefined;
      if (!(await attempts.complete(a.id, s.userId, o.requireApproved, trx))) {
        throw o.requireApproved ? new HttpError(409, 'NOT_APPROVED', 'This login has not been approved') : new HttpError(409, 'ALREADY_COMPLETED', 'This login was already completed');
      }
      if (s.state === 'full') {
        const reauthAt = await sessions.completeReauth(s, a.id, trx);
        if (reauthAt === undefined) throw new HttpError(409, 'ALREADY_COMPLETED', 'This confirmation was already completed');
        return { reauthAt };
      }
      const token = await sessions.promote(s, trx);
      if (!token) throw new HttpError(409, 'ALREADY_COMPLETED', 'This login was already completed');
      return { token };
    });
  }

  /** Answer a completed second factor: the new cookie (login) or the proof's end (step-up). */
  async function finishLogin(req: Request, res: Response, s: Session, kind: 'totp' | 'sms' | 'push' | 'recovery', done: { token: string } | { reauthAt: number }, extra: Record<string, number> = {}): Promise<void> {
    await record(req, { type: AuditType.SECOND_FACTOR, outcome: 'success', userRef: userRef(s.userId), detail: { kind, ...extra } });
    if ('reauthAt' in done) {
      await record(req, { type: AuditType.REAUTH, outcome: 'success', userRef: userRef(s.userId), detail: { kind } });
      res.json({ state: 'reauthenticated', reauth_until: done.reauthAt + REAUTH_WINDOW_MS, ...extra });
      return;
    }
    sessions.setCookie(res, done.token);
    await passwords.remember(req, res, s.userId);
    await record(req, { type: AuditType.LOGIN, outcome: 'success', userRef: userRef(s.userId), detail: { kind } });
    res.json({ state: 'logged_in', ...extra });
  }

  /**
   * Ask for the attempt's second factor: a OneTouch request (number matching) when the user has
   * an authenticator, else a code by SMS. Returns what the browser is told.
   */
  async function startSecondFactor(req: Request, u: { id: number; email: string; authy_id: number }, attempt: LoginAttempt, purpose: 'login' | 'reauth'): Promise<Record<string, unknown>> {
    const details = { Email: u.email, Browser: shortBrowserName(req.get('user-agent')), IP: ipOf(req) };
    try {
      const approval = await client.createApprovalRequest(u.authy_id, {
        message: purpose === 'login' ? `Request to log in to ${config.APP_NAME}` : `Confirm a change to your ${config.APP_NAME} account`,
        details,
        hiddenDetails: { login_attempt: attempt.id },
        secondsToExpire: APPROVAL_SECONDS,
        numberMatching: true,
      });
      const expiresAt = clock.now() + APPROVAL_SECONDS * 1000;
      await attempts.attachApproval(attempt.id, { uuid: approval.uuid, number: approval.number, expiresAt, details });
      await record(req, { type: AuditType.APPROVAL_REQUESTED, outcome: 'info', userRef: userRef(u.id), detail: { kind: 'push', purpose } });
      return { state: 'approve', number: approval.number, details, expires_at: expiresAt };
    } catch (e) {
      if (!(e instanceof VerifyServiceError) || e.status === 0 || e.status >= 500) throw fromService(e);
      // No OneTouch device (404 60050) or push refused for now: fall back to a code by SMS.
      logger.info({ error_code: e.code, status: e.status }, 'no approval request; falling back to sms');
    }
    const cool = await attempts.startSmsCoolDown(attempt.id);
    try {
      if (await sendSms(req, attempt, u.authy_id, false)) return { state: 'code', via: 'sms', retry_after: SMS_COOL_DOWN_MS / 1000 };
      // An authenticator is enrolled (its push is capped for now): its code first, a text on request.
      if (cool.started) await attempts.clearSmsCoolDown(attempt.id, cool.at);
      return { state: 'code', via: 'app', message: 'Type the code your authenticator shows, or choose "Resend" to get a text message instead.' };
    } catch (e) {
      if (cool.started) await attempts.clearSmsCoolDown(attempt.id, cool.at);
      const err = fromService(e);
      logger.info({ error_code: err.code }, 'sms not sent');
      // The user can still use an authenticator app's code.
      if (e instanceof VerifyServiceError && e.status === 429) {
        const wait = e.retryAfterSeconds ?? 600;
        return {
          state: 'code',
          via: 'app',
          retry_after: wait,
          message: `Your phone has had the most text messages we send in 10 minutes. Use a code from your authenticator app or a recovery code, or try "Resend" in ${waitInWords(wait)}.`,
        };
      }
      return { state: 'code', via: 'app', message: 'We could not send a text message right now. Use a code from your authenticator app, or try "Resend" shortly.' };
    }
  }

  /**
   * An account whose service user was taken away (it shared one with an older account before
   * each account owned its factor) gets a fresh one. Nothing else may hold it: the unique index
   * on app_users.authy_id refuses a second binding.
   */
  async function bindFreshServiceUser(user: { id: number; email: string; phone: string; country_code: string }): Promise<number> {
    const authyId = await client.registerUser({ email: user.email, cellphone: user.phone, countryCode: user.country_code }).catch((e: unknown) => Promise.reject(fromService(e)));
    try {
      const r = await db.updateTable('app_users').set({ authy_id: authyId }).where('id', '=', user.id).where('authy_id', 'is', null).executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) {
        const now = await getUser(user.id);
        if (now?.authy_id) return now.authy_id;
      }
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
      logger.error({ userId: user.id }, 'the service returned a user that another account holds; not bound');
      throw new HttpError(409, 'FACTOR_CONFLICT', 'Your second factor cannot be set up right now; please contact support', { reason: 'authy_id held by another account' });
    }
    logger.info({ userId: user.id }, 'bound a fresh service user to an account that had none');
    return authyId;
  }

  /**
   * Text a code. `force` only when the person asked for a text ("Resend"); otherwise the service
   * sends nothing to a user who has an authenticator (false is returned) and the page offers its
   * code first.
   */
  async function sendSms(req: Request, a: LoginAttempt, authyId: number, force: boolean): Promise<boolean> {
    const r = await client.requestSms(authyId, force, ipOf(req));
    if (r.ignored) return false;
    await record(req, { type: AuditType.SECOND_FACTOR_SENT, outcome: 'success', userRef: userRef(a.user_id), detail: { kind: 'sms' } });
    return true;
  }

  // Signup, in two steps: `POST /user` keeps the form in a pending signup (no user exists yet)
  // and texts a code to the phone; `POST /user/verify-phone` with that code creates the account.
  // Nobody can bind a phone they do not hold.
  //
  // A duplicate email answers exactly like a new one at every step (the same statuses, bodies and
  // cookies, in about the same time) but creates nothing: after the right code its session cookie
  // is a random token no session row matches, so the browser simply finds itself logged out. That
  // way signup cannot be used to learn which emails have accounts. The real owner sees a `signup`
  // failure (duplicate_email) in their event list.
  // The median of the last registrations' durations (a median, not a mean: a few slow outliers
  // must not make every duplicate answer slower than a typical new account).
  const registrationSamples: number[] = [];
  // How long a duplicate's own answer takes from `res.json` to its last byte handed to the socket:
  // the pad ends that much earlier, so both kinds finish at the same moment.
  const duplicateSendSamples: number[] = [];
  // How late the pad's timer fires (more under load): the pad asks for that much less.
  const timerLateSamples: number[] = [];
  const median = (xs: number[], empty: number) => {
    if (xs.length === 0) return empty;
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)]!;
  };
  const keepLast = (xs: number[], x: number) => {
    xs.push(x);
    if (xs.length > 31) xs.shift();
  };
  const phoneOf = (x: { phone: string; country_code: string }) => ({ cellphone: x.phone, countryCode: x.country_code });
  const prettyPhone = (e164: string) => parsePhoneNumberFromString(e164)?.formatInternational() ?? e164;
  const setSignupCookie = (res: Response, token: string) =>
    res.cookie(signupCookie.name, token, { httpOnly: true, sameSite: 'lax', path: '/', secure: signupCookie.secure, maxAge: PENDING_SIGNUP_TTL_MS });
  const clearSignupCookie = (res: Response) => res.clearCookie(signupCookie.name, { httpOnly: true, sameSite: 'lax', path: '/', secure: signupCookie.secure });

  /** Text a phone code; a number the service refuses is the form's phone field's fault. */
  async function sendPhoneCode(req: Request, x: { phone: string; country_code: string }): Promise<void> {
    try {
      await client.startPhoneVerification(phoneOf(x), PHONE_CODE_LENGTH, ipOf(req));
    } catch (e) {
      if (e instanceof VerifyServiceError && e.status === 400) {
        throw new HttpError(400, 'VALIDATION', `phone: ${e.message}`, { details: { fields: { phone: e.message } }, reason: `service ${e.code}` });
      }
      throw fromService(e);
    }
  }

  r.post('/user', ...mutate, async (req, res) => {
    const v = parseBody(signupSchema, req.body);
    await consumeLimits([[signupIp, clientNetwork(ipOf(req))]], 'signup per ip');
    const passwordHash = await hashPassword(v.password);
    const phone = { phone: v.parsedPhone.nationalNumber, country_code: v.parsedPhone.countryCode };
    await sendPhoneCode(req, phone);
    const { token, row } = await pending.create({
      email: v.email,
      fullName: v.fullName,
      passwordHash,
      countryCode: v.parsedPhone.countryCode,
      region: v.parsedPhone.region,
      phone: v.parsedPhone.nationalNumber,
      e164: v.parsedPhone.e164,
    });
    setSignupCookie(res, token);
    res.status(202).json(pendingView(row));
  });

  const pendingView = (row: PendingSignup) => ({
    state: 'verify_phone',
    phone: prettyPhone(row.e164),
    retry_after: Math.max(0, Math.ceil(((row.last_sent_at ?? 0) + PHONE_CODE_COOL_DOWN_MS - clock.now()) / 1000)),
    attempts_left: PENDING_SIGNUP_MAX_TRIES - row.code_tries,
    expires_at: row.expires_at,
  });

  async function livePending(req: Request, res: Response): Promise<PendingSignup> {
    const token = readSessionCookie(req, signupCookie.name);
    const row = token ? await pending.find(token) : undefined;
    if (!row) {
      clearSignupCookie(res);
      throw new HttpError(401, 'SIGNUP_EXPIRED', 'This signup has ended; please fill in the form again');
    }
    return row;
  }

  // Where the signup stands (the page reloads, or comes back to the code step).
  r.get('/user/signup', async (req, res) => {
    const row = await livePending(req, res);
    res.setHeader('Cache-Control', 'no-store');
    res.json(pendingView(row));
  });

  r.post('/user/verify-phone', ...mutate, async (req, res) => {
    const v = parseBody(codeSchema, req.body);
    const row = await livePending(req, res);
    await consumeCodeIp(req);
    // Out of tries, the pending signup is over: no try is left to reserve, and the sweep removes
    // it. It is not deleted here, so that a right code already being checked still counts.
    const endSignup = () => {
      clearSignupCookie(res);
      return new HttpError(403, 'TOO_MANY_ATTEMPTS', 'Too many wrong codes. Please fill in the form again.');
    };
    const tries = await pending.reserveTry(row.token_hash);
    if (tries === undefined) throw endSignup();
    try {
      await client.checkPhoneVerification(phoneOf(row), v.code);
    } catch (e) {
      // Unreachable, or over the service's check cap for this phone: no code was compared.
      if (!(e instanceof VerifyServiceError) || e.status === 0 || e.status === 429 || e.status >= 500) {
        await pending.refundTry(row.token_hash);
        throw fromService(e);
      }
      const left = PENDING_SIGNUP_MAX_TRIES - tries;
      if (left <= 0) throw endSignup();
      if (e.code === '60023') throw new HttpError(400, 'CODE_EXPIRED', 'That code has expired or was replaced. Ask for a new code.', { details: { attempts_left: left } });
      throw new HttpError(400, 'CODE_INVALID', 'That code is not right. Check the text message and try again.', { details: { attempts_left: left } });
    }
    const t0 = performance.now();
    // One code, one account: of two racing requests only the one that removed the row goes on.
    if (!(await pending.take(row.token_hash))) {
      clearSignupCookie(res);
      throw new HttpError(401, 'SIGNUP_EXPIRED', 'This signup has ended; please fill in the form again');
    }
    clearSignupCookie(res);
    let id: number | undefined;
    const taken = await db.selectFrom('app_users').select('id').where('email', '=', row.email).executeTakeFirst();
    if (!taken) {
      // Register at the service first (the same phone and email give the same id), then create
      // the user in one insert that already holds the id: a crash in between leaves at most an
      // unused service user, never a local user without a second factor.
      const authyId = await client.registerUser({ email: row.email, cellphone: row.phone, countryCode: row.country_code }).catch((e: unknown) => Promise.reject(fromService(e)));
      try {
        const created = await db
          .insertInto('app_users')
          .values({
            email: row.email,
            full_name: row.full_name,
            password_hash: row.password_hash,
            country_code: row.country_code,
            region: row.region,
            phone: row.phone,
            authy_id: authyId,
            totp_app_confirmed_at: null,
            created_at: clock.now(),
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        id = created.id;
      } catch (e) {
        if (!isUniqueViolation(e)) throw e;
        const sameEmail = await db.selectFrom('app_users').select('id').where('email', '=', row.email).executeTakeFirst();
        // Not the email: the service gave an id another account holds. Never bind it twice.
        if (!sameEmail) {
          logger.error({ authyId }, 'signup: the service returned a user that another account holds');
          throw new HttpError(409, 'FACTOR_CONFLICT', 'Your account cannot be created right now; please contact support', { reason: 'authy_id held by another account' });
        }
        // Otherwise a concurrent signup with the same email won the insert: answer as a duplicate.
      }
    }
    if (id === undefined) {
      const existing = taken ?? (await db.selectFrom('app_users').select('id').where('email', '=', row.email).executeTakeFirst());
      if (existing) await record(req, { type: AuditType.SIGNUP, outcome: 'failure', userRef: userRef(existing.id), detail: { reason: 'duplicate_email' } });
      // Pad for what the new-account path spends on registration (a median of it).
      const wait = median(registrationSamples, 40) - median(duplicateSendSamples, 0) - median(timerLateSamples, 0) - (performance.now() - t0);
      if (wait > 0) {
        const asked = performance.now();
        await new Promise((ok) => setTimeout(ok, wait));
        keepLast(timerLateSamples, performance.now() - asked - wait);
      }
      sessions.setCookie(res, randomToken(32));
      passwords.browserToken(req, res);
      const sentAt = performance.now();
      res.once('finish', () => keepLast(duplicateSendSamples, performance.now() - sentAt));
      res.status(201).json({ state: 'logged_in' });
      return;
    }
    // Signup proved the password and the phone just now: the session may change factors at once.
    const token = await sessions.create(id, 'full', null);
    sessions.setCookie(res, token);
    await passwords.remember(req, res, id);
    await record(req, { type: AuditType.SIGNUP, outcome: 'success', userRef: userRef(id) });
    await record(req, { type: AuditType.LOGIN, outcome: 'success', userRef: userRef(id), detail: { kind: 'signup' } });
    // Measured when the answer has been handed to the socket, so the duplicate path pads for all
    // of this path (including event-loop work that the in-process service call leaves behind).
    res.once('finish', () => keepLast(registrationSamples, performance.now() - t0));
    res.status(201).json({ state: 'logged_in' });
  });

  // Another phone code for the pending signup, at most one per PHONE_CODE_COOL_DOWN_MS (the
  // service also caps codes per phone and per IP).
  r.post('/user/resend-phone', ...mutate, async (req, res) => {
    parseBody(emptySchema, req.body);
    const row = await livePending(req, res);
    const cool = await pending.startCoolDown(row.token_hash);
    if (!cool.started) {
      throw new HttpError(429, 'COOL_DOWN', `Please wait ${cool.retryAfterSeconds} s before asking for another code`, {
        headers: { 'Retry-After': String(cool.retryAfterSeconds) },
        details: { retry_after: cool.retryAfterSeconds },
      });
    }
    try {
      await sendPhoneCode(req, row);
    } catch (e) {
      await pending.clearCoolDown(row.token_hash, cool.at);
      throw e;
    }
    res.json({ sent: true, via: 'sms', retry_after: PHONE_CODE_COOL_DOWN_MS / 1000 });
  });

  // Password step.
  r.post('/session', ...mutate, async (req, res) => {
    const v = parseBody(loginSchema, req.body);
    const returnTo = safeReturnTo(v.return_to, '/account');
    const user = await db.selectFrom('app_users').selectAll().where('email', '=', v.email).executeTakeFirst();
    const client = await throttlePassword(req, v.email, user?.id, { ipLimits: true });
    // Unknown emails are verified against a dummy hash: same work, same answer.
    const ok = await verifyPassword(user?.password_hash ?? (await dummyHash()), v.password);
    if (!user || !ok) {
      // Recorded for unknown emails too (no user, no email stored): the same database work on
      // both paths keeps their timing equal, and operators see guessing against absent accounts.
      await record(req, { type: AuditType.PASSWORD, outcome: 'failure', userRef: user ? userRef(user.id) : null, detail: { reason: user ? 'wrong_password' : 'unknown_email' } });
      throw new HttpError(401, 'INVALID_CREDENTIALS', 'Email or password is incorrect', { reason: user ? 'wrong password' : 'unknown email' });
    }
    // The account's consecutive failures end here. The per-client window is not reset: each
    // accepted password opens a fresh budget of code tries, so it also caps second-factor guessing
    // by someone who has the password.
    await passwords.succeeded(v.email, client);
    // An account split off a shared service user has none: a fresh one has no authenticator, so
    // this login proves the phone by SMS before anything else.
    const authyId = user.authy_id ?? (await bindFreshServiceUser(user));
    // Rotation: whatever session the browser had ends here.
    if (req.appSession) await sessions.delete(req.appSession.tokenHash);
    const attempt = await attempts.create(user.id);
    const token = await sessions.create(user.id, 'half', attempt.id);
    sessions.setCookie(res, token);
    await record(req, { type: AuditType.PASSWORD, outcome: 'success', userRef: userRef(user.id) });
    const next = await startSecondFactor(req, { id: user.id, email: user.email, authy_id: authyId }, attempt, 'login');
    res.json({ ...next, return_to: returnTo });
  });

  // Step-up: a logged-in session proves the password and a second factor again before a factor
  // change. The second factor runs through the login's own routes (status, complete, verify,
  // recover, resend) on this session's step-up attempt; success records the proof on the session.
  r.post('/session/reauth', ...mutate, requireFullSession, async (req, res) => {
    const v = parseBody(reauthSchema, req.body);
    const s = req.appSession!;
    const user = await getUser(s.userId);
    if (!user?.authy_id) throw new HttpError(401, 'UNAUTHENTICATED', 'Please log in');
    // The login's own per-client window and account-wide count: a stolen session gets no more
    // password guesses here than the login page gives.
    const client = await throttlePassword(req, user.email, user.id, { ipLimits: false });
    if (!(await verifyPassword(user.password_hash, v.password))) {
      await record(req, { type: AuditType.PASSWORD, outcome: 'failure', userRef: userRef(user.id), detail: { reason: 'wrong_password', purpose: 'reauth' } });
      throw new HttpError(401, 'INVALID_CREDENTIALS', 'That password is not right', { reason: 'reauth wrong password' });
    }
    await passwords.succeeded(user.email, client);
    await record(req, { type: AuditType.PASSWORD, outcome: 'success', userRef: userRef(user.id), detail: { purpose: 'reauth' } });
    const attempt = await attempts.create(user.id);
    if (!(await sessions.startReauth(s, attempt.id))) throw new HttpError(401, 'UNAUTHENTICATED', 'Please log in');
    const next = await startSecondFactor(req, { id: user.id, email: user.email, authy_id: user.authy_id }, attempt, 'reauth');
    res.json({ ...next, purpose: 'reauth' });
  });

  // Whether this session may change factors now, and until when.
  r.get('/session/reauth', requireFullSession, (req, res) => {
    const until = sessions.reauthUntil(req.appSession!);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ fresh: until !== null, reauth_until: until });
  });

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
    if (!a.approval_status) throw new HttpError(409, 'NO_APPROVAL', 'This login uses a code, not an approval');
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
      d.streams.delete(st.close);
      res.end();
    };
    statusStreams.add(st);
    releaseSlot = statusSlots.take(a.id, st.close);
    if (!statusTicker) {
      statusTicker = setInterval(tickStatusStreams, STATUS_TICK_MS);
      statusTicker.unref();
    }
    d.streams.add(st.close);
    req.on('close', st.close);
    await refreshStatus(st);
  });

  // Approved on the device: exchange the half session for a full one (new token).
  r.post('/session/complete', ...mutate, requireSecondFactorSession, async (req, res) => {
    const { s, a } = await liveAttempt(req, res);
    const done = await completeSecondFactor(s, a, { requireApproved: true });
    await finishLogin(req, res, s, 'push', done!);
  });

  // The OneTouch callback from the verification service. Unauthenticated: the signature is the
  // credential, so no CSRF check, and every refusal is the same 401.
  const refuseCallback = (reason: string) => new HttpError(401, 'BAD_SIGNATURE', 'Invalid signature', { reason });
  // The cheap checks come before the body is read at all: headers of the right shape and a fresh
  // nonce. Only then is the body parsed, within the size, depth and value budgets.
  const callbackHeaders = (req: Request, _res: Response, next: (e?: unknown) => void) => {
    const nonce = req.get('x-authy-signature-nonce') ?? '';
    const signature = req.get('x-authy-signature') ?? '';
    if (!/^\d{1,12}$/.test(nonce) || !/^[A-Za-z0-9+/=]{1,200}$/.test(signature)) return next(refuseCallback('missing or malformed headers'));
    if (Math.abs(clock.now() / 1000 - Number(nonce)) > CALLBACK_NONCE_WINDOW_SECONDS) return next(refuseCallback('stale nonce'));
    next();
  };
  r.post('/authy/callback', callbackHeaders, boundedJson({ limit: '64kb', type: () => true }), async (req, res) => {
    const nonce = req.get('x-authy-signature-nonce')!;
    const signature = req.get('x-authy-signature')!;
    const refuse = refuseCallback;
    const body: unknown = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw refuse('body not an object');
    const url = `${config.PUBLIC_URL}/authy/callback`;
    if (!verifyCallbackSignature({ apiKey: d.apiKey, nonce, method: 'POST', url, body, signature })) throw refuse('signature mismatch');
    try {
      await db.insertInto('app_callback_nonces').values({ nonce, signature_hash: sha256Hex(signature), seen_at: clock.now() }).execute();
    } catch (e) {
      if (isUniqueViolation(e)) throw refuse('replayed nonce');
      throw e;
    }
    const b = body as Record<string, unknown>;
    const uuid = typeof b.uuid === 'string' ? b.uuid : '';
    const status = b.status;
    const tx = (b.approval_request as { transaction?: { hidden_details?: unknown } } | undefined)?.transaction;
    const hidden = tx?.hidden_details as Record<string, unknown> | undefined;
    const attemptId = typeof hidden?.login_attempt === 'string' ? hidden.login_attempt : '';
    if (!uuid || (status !== 'approved' && status !== 'denied') || !/^[0-9a-f]{32}$/.test(attemptId)) {
      throw new HttpError(400, 'VALIDATION', 'Callback body is not an approval status', { reason: 'callback shape' });
    }
    const a = await attempts.get(attemptId);
    const user = a ? await getUser(a.user_id) : undefined;
    if (!a || !user || a.approval_uuid !== uuid || (b.authy_id !== undefined && Number(b.authy_id) !== user.authy_id)) {
      throw new HttpError(404, 'NOT_FOUND', 'No such login attempt', { reason: 'callback for unknown attempt' });
    }
    const changed = await attempts.recordAnswer(a.id, uuid, status);
    if (changed) {
      await audit.record({ type: AuditType.APPROVAL_ANSWERED, outcome: status === 'approved' ? 'success' : 'failure', userRef: userRef(a.user_id), detail: { status } });
      if (status === 'denied') await audit.record({ type: AuditType.SECOND_FACTOR, outcome: 'failure', userRef: userRef(a.user_id), detail: { kind: 'push', reason: 'denied' } });
      await p.bus.publish(attemptChannel(a.id), { status });
    }
    res.json({ ok: true, recorded: changed });
  });

  // A code from an authenticator (the Twofold one or any TOTP app) or from an SMS.
  r.post('/session/verify', ...mutate, requireSecondFactorSession, async (req, res) => {
    const v = parseBody(codeSchema, req.body);
    const { s, a } = await liveAttempt(req, res);
    await consumeCodeIp(req);
    const user = await getUser(s.userId);
    if (!user?.authy_id) throw new HttpError(401, 'LOGIN_EXPIRED', 'This login has ended; please log in again');
    const max = config.OTP_MAX_ATTEMPTS;
    const tries = await attempts.reserveCodeTry(a.id, max);
    if (tries === undefined) throw await endAttempt(res, s, a);
    let kind: 'totp' | 'sms';
    try {
      const r = await client.verifyToken(user.authy_id, v.code);
      kind = r.kind ?? (a.last_sms_at !== null ? 'sms' : 'totp');
    } catch (e) {
      if (e instanceof VerifyServiceError && (e.code === '60020' || e.code === '60019' || e.status === 401)) {
        await record(req, { type: AuditType.SECOND_FACTOR, outcome: 'failure', userRef: userRef(user.id), detail: { kind: a.last_sms_at !== null ? 'sms' : 'totp', reason: e.code === '60019' ? 'reused' : 'invalid' } });
        const left = max - tries;
        if (left <= 0) throw await endAttempt(res, s, a);
        const message = e.code === '60019' ? 'That code was already used. Wait for the next one.' : 'That code is not right. Check it and try again.';
        throw new HttpError(400, 'CODE_INVALID', message, { details: { attempts_left: left } });
      }
      await attempts.refundCodeTry(a.id);
      throw fromService(e);
    }
    const done = await completeSecondFactor(s, a, { requireApproved: false });
    await finishLogin(req, res, s, kind, done!);
  });

  // A recovery code instead of the second factor (lost phone). It spends the same per-attempt
  // budget as a wrong OTP and is capped per user (RECOVERY_PER_USER_LIMIT an hour) across attempts.
  // The code is redeemed and the attempt completed in one transaction: if the attempt was
  // completed by another request meanwhile, the code stays unused.
  r.post('/session/recover', ...mutate, requireSecondFactorSession, async (req, res) => {
    const v = parseBody(recoveryCodeSchema, req.body);
    const { s, a } = await liveAttempt(req, res);
    await consumeCodeIp(req);
    const lim = await recoveryPerUser.consume(String(s.userId));
    if (!lim.allowed) throw tooMany(lim.retryAfterSeconds, 'recovery per user');
    const max = config.OTP_MAX_ATTEMPTS;
    const tries = await attempts.reserveCodeTry(a.id, max);
    if (tries === undefined) throw await endAttempt(res, s, a);
    // The code is redeemed in the completion's transaction: if the attempt was completed by
    // another request meanwhile, the code stays unused.
    const done = await completeSecondFactor(s, a, { requireApproved: false, first: (trx) => recovery.redeem(s.userId, v.code, trx) });
    if (!done) {
      await record(req, { type: AuditType.SECOND_FACTOR, outcome: 'failure', userRef: userRef(s.userId), detail: { kind: 'recovery', reason: 'invalid' } });
      const left = max - tries;
      if (left <= 0) throw await endAttempt(res, s, a);
      throw new HttpError(400, 'CODE_INVALID', 'That recovery code is not right, or it was already used.', { details: { attempts_left: left } });
    }
    const { remaining } = await recovery.status(s.userId);
    await finishLogin(req, res, s, 'recovery', done, { recovery_codes_remaining: remaining });
  });

  // Another SMS, at most one per SMS_COOL_DOWN_MS per attempt.
  r.post('/session/resend', ...mutate, requireSecondFactorSession, async (req, res) => {
    const { s, a } = await liveAttempt(req, res);
    const user = await getUser(s.userId);
    if (!user?.authy_id) throw new HttpError(401, 'LOGIN_EXPIRED', 'This login has ended; please log in again');
    const cool = await attempts.startSmsCoolDown(a.id);
    if (!cool.started) {
      throw new HttpError(429, 'COOL_DOWN', `Please wait ${cool.retryAfterSeconds} s before asking for another code`, {
        headers: { 'Retry-After': String(cool.retryAfterSeconds) },
        details: { retry_after: cool.retryAfterSeconds },
      });
    }
    try {
      await sendSms(req, a, user.authy_id, true);
    } catch (e) {
      await attempts.clearSmsCoolDown(a.id, cool.at);
      throw fromService(e);
    }
    res.json({ sent: true, via: 'sms', retry_after: SMS_COOL_DOWN_MS / 1000 });
  });

  r.delete('/session', ...mutate, async (req, res) => {
    const s = req.appSession;
    if (!s) throw new HttpError(401, 'UNAUTHENTICATED', 'Please log in');
    await sessions.delete(s.tokenHash);
    sessions.clearCookie(res);
    await record(req, { type: AuditType.LOGOUT, outcome: 'success', userRef: userRef(s.userId), detail: { state: s.state } });
    res.json({ state: 'logged_out' });
  });

  // ---- The user's page ----
  const currentUser = async (req: Request) => {
    const u = await getUser(req.appSession!.userId);
    if (!u?.authy_id) throw new HttpError(401, 'UNAUTHENTICATED', 'Please log in');
    return { ...u, authy_id: u.authy_id };
  };

  r.get('/user', requireFullSession, async (req, res) => {
    const u = await currentUser(req);
    let devices: { id: string; name: string; created_at: number; last_seen_at: number | null }[] = [];
    let devicesError: string | undefined;
    try {
      devices = (await client.listDevices(u.authy_id))
        .filter((x) => x.revokedAt === null)
        .map((x) => ({ id: x.id, name: x.name, created_at: x.createdAt, last_seen_at: x.lastSeenAt }));
    } catch (e) {
      devicesError = fromService(e).message;
    }
    const recoveryCodes = await recovery.status(u.id);
    // The app's own events, plus the lockouts the verification service recorded for this person
    // (the app cannot see those otherwise; with a remote service they are simply not here).
    const own = await audit.forUser(userRef(u.id), 20);
    const lockouts = (
      await db.selectFrom('audit_events').select(['id', 'at']).where('user_ref', '=', `authy:${u.authy_id}`).where('type', '=', AuditType.LOCKOUT).orderBy('at', 'desc').limit(20).execute()
    ).map((r) => ({ id: r.id, at: r.at, type: AuditType.LOCKOUT, outcome: 'info' as const, ip: null, detail: {} }));
    const events = [...own.map((e) => ({ id: e.id, at: e.at, type: e.type, outcome: e.outcome, ip: e.ip, detail: e.detail })), ...lockouts]
      .sort((a, b) => b.at - a.at || b.id - a.id)
      .slice(0, 20);
    let totpApps: { id: string; label: string | null; created_at: number; confirmed_at: number | null; last_used_at: number | null; legacy: boolean }[] = [];
    try {
      totpApps = (await client.listTotpApps(u.authy_id))
        .filter((x) => x.state === 'active')
        .map((x) => ({ id: x.id, label: x.label, created_at: x.createdAt, confirmed_at: x.confirmedAt, last_used_at: x.lastUsedAt, legacy: x.legacy }));
    } catch (e) {
      devicesError ??= fromService(e).message;
    }
    res.setHeader('Cache-Control', 'no-store');
    res.json({
      user: {
        id: u.id,
        fullName: u.full_name,
        email: u.email,
        countryCode: u.country_code,
        region: u.region,
        phone: u.phone,
        totpAppConfirmed: totpApps.length > 0,
      },
      devices,
      totp_apps: totpApps,
      reauth_until: sessions.reauthUntil(req.appSession!),
      ...(devicesError ? { devices_error: devicesError } : {}),
      recovery_codes: recoveryCodes,
      events,
    });
  });

  r.post('/user/authenticators', ...mutate, requireFullSession, requireRecentAuth(sessions), async (req, res) => {
    const v = parseBody(activationSchema, req.body);
    const u = await currentUser(req);
    const act = await client.createActivation(u.authy_id, v.name).catch((e: unknown) => Promise.reject(fromService(e)));
    await record(req, { type: AuditType.DEVICE_ACTIVATED, outcome: 'info', userRef: userRef(u.id), detail: { step: 'link_created' } });
    res.status(201).json({ activation: { link: act.link, qr_code: act.qrCode, expires_at: act.expiresAt } });
  });

  /** A removal at the service: its 404 is the browser's 404 (not this user's, or gone). */
  async function removalAtService(call: Promise<void>, notFound: string): Promise<void> {
    try {
      await call;
    } catch (e) {
      if (e instanceof VerifyServiceError && e.status === 404) throw new HttpError(404, 'NOT_FOUND', notFound);
      throw fromService(e);
    }
  }

  r.delete('/user/authenticators/:id', ...mutate, requireFullSession, requireRecentAuth(sessions), async (req, res) => {
    const id = deviceIdSchema.safeParse(req.params.id);
    if (!id.success) throw new HttpError(400, 'VALIDATION', 'id: is not a device id');
    const u = await currentUser(req);
    await removalAtService(client.revokeDevice(u.authy_id, id.data), 'No such authenticator');
    await record(req, { type: AuditType.DEVICE_REVOKED, outcome: 'success', userRef: userRef(u.id), detail: { device: id.data } });
    res.json({ revoked: id.data });
  });

  // A new third-party app secret, shown once. It counts (and replaces the app set up before, if
  // any) once a first code from it is confirmed.
  r.post('/user/totp-app', ...mutate, requireFullSession, requireRecentAuth(sessions), async (req, res) => {
    const u = await currentUser(req);
    const s = await client.createTotpSecret(u.authy_id, u.email).catch((e: unknown) => Promise.reject(fromService(e)));
    res.setHeader('Cache-Control', 'no-store');
    res.status(201).json({ id: s.id, uri: s.uri, qr_code: s.qrCode });
  });

  r.delete('/user/totp-app/:id', ...mutate, requireFullSession, requireRecentAuth(sessions), async (req, res) => {
    const id = totpAppIdSchema.safeParse(req.params.id);
    if (!id.success) throw new HttpError(400, 'VALIDATION', 'id: is not an authenticator app id');
    const u = await currentUser(req);
    await removalAtService(client.removeTotpApp(u.authy_id, id.data), 'No such authenticator app');
    await record(req, { type: AuditType.DEVICE_REVOKED, outcome: 'success', userRef: userRef(u.id), detail: { kind: 'totp_app' } });
    res.json({ removed: id.data });
  });

  r.post('/user/totp-app/confirm', ...mutate, requireFullSession, async (req, res) => {
    const v = parseBody(codeSchema, req.body);
    const u = await currentUser(req);
    await consumeCodeIp(req);
    const lim = await totpConfirm.consume(String(u.id));
    if (!lim.allowed) throw tooMany(lim.retryAfterSeconds, 'totp confirm');
    let check;
    try {
      check = await client.verifyToken(u.authy_id, v.code, { pending: true });
    } catch (e) {
      if (e instanceof VerifyServiceError && e.code === '60019') {
        // Each 30-second code counts once per account, whichever authenticator showed it.
        throw new HttpError(400, 'CODE_INVALID', 'That code was already used. Wait for the app to show the next one, then type it.');
      }
      if (e instanceof VerifyServiceError && e.status === 401) throw new HttpError(400, 'CODE_INVALID', 'That code is not right. Check the app and try again.');
      throw fromService(e);
    }
    // Only a code of the new secret confirms it (a service that does not say which factor
    // matched is trusted as Authy was).
    if (!check.enrolled && check.factor !== null) {
      throw new HttpError(400, 'CODE_INVALID', 'That code is not from the new app. Scan the QR code and type the code the app shows.');
    }
    await record(req, { type: AuditType.DEVICE_ACTIVATED, outcome: 'success', userRef: userRef(u.id), detail: { kind: 'totp_app' } });
    res.json({ confirmed: true });
  });

  // A new set of recovery codes, shown once; every earlier code stops working.
  r.post('/user/recovery-codes', ...mutate, requireFullSession, requireRecentAuth(sessions), async (req, res) => {
    parseBody(emptySchema, req.body);
    const u = await currentUser(req);
    const { codes, generatedAt } = await recovery.regenerate(u.id);
    await record(req, { type: AuditType.RECOVERY_CODES_GENERATED, outcome: 'success', userRef: userRef(u.id), detail: { count: RECOVERY_CODE_COUNT } });
    res.setHeader('Cache-Control', 'no-store');
    res.status(201).json({ codes, recovery_codes: { remaining: codes.length, generated_at: generatedAt } });
  });

  return r;
}
