import type { Request, Response } from 'express';
import type { Kysely } from 'kysely';
import type { AppDatabase } from '../schema.js';
import { AuditType } from '../../platform/audit.js';
import { isUniqueViolation } from '../../platform/db.js';
import { HttpError } from '../../platform/errors.js';
import { VerifyServiceError } from '../authy-client.js';
import { type AttemptWithUser, type LoginAttempt, SMS_COOL_DOWN_MS } from '../login-attempts.js';
import { REMEMBER_DAYS } from '../remembered-browsers.js';
import { REAUTH_WINDOW_MS, type Session } from '../sessions.js';
import { shortBrowserName } from '../user-agent.js';
import { fromService, type RouteKit, userRef, waitInWords } from './kit.js';
import { AppError } from '../error-codes.js';

/** OneTouch requests for a login expire after this (120 s for Twofold's own app; docs/authy-compat.md). */
const APPROVAL_SECONDS = 120;

/** How a second factor completes (see `completeSecondFactor`). */
interface Completion {
  requireApproved: boolean;
  kind: 'totp' | 'sms' | 'push' | 'recovery' | 'passkey';
  first?: (trx: Kysely<AppDatabase>) => Promise<boolean>;
  extra?: (trx: Kysely<AppDatabase>) => Promise<Record<string, number>>;
  /** A login (not a step-up) that asked not to be asked again on this browser. */
  remember?: boolean | undefined;
}

type Completed = ({ token: string; newBrowser: boolean; rememberToken: string | undefined } | { reauthAt: number }) & { extra: Record<string, number> };

/** The second factor of a login or a step-up: asking for it, checking the attempt, completing it. */
export function secondFactor(k: RouteKit) {
  const { client, sessions, attempts, config, clock, logger, db, audit, passwords, ipOf, record, recordIn, users, notify, clientOf, remembered, resets } = k;
  /**
   * The session's live attempt: a half session's login, or a full session's step-up. When it is
   * over, a half session ends (401); a full session stays logged in and is told to start the
   * step-up again (409).
   */
  async function liveAttempt(req: Request, res: Response): Promise<{ s: Session; a: AttemptWithUser }> {
    const s = req.appSession!;
    const a = await attempts.get(s.loginAttemptId!);
    if (!attempts.isLive(a) || a.user_id !== s.userId) {
      if (s.state === 'full') throw new HttpError(409, AppError.REAUTH_EXPIRED, 'This confirmation has ended; please confirm again');
      await sessions.delete(s.tokenHash);
      sessions.clearCookie(res);
      throw new HttpError(401, AppError.LOGIN_EXPIRED, 'This login has ended; please log in again');
    }
    return { s, a };
  }

  /**
   * Too many wrong codes: the attempt dies and so does the session, also a full one in a step-up
   * (whoever guesses codes in it may hold a stolen session cookie).
   */
  async function endAttempt(req: Request, res: Response, s: Session, a: LoginAttempt): Promise<HttpError> {
    await attempts.kill(a.id);
    notify(req, s.userId, 'second_factor_locked');
    await sessions.delete(s.tokenHash);
    sessions.clearCookie(res);
    return new HttpError(403, AppError.TOO_MANY_ATTEMPTS, 'Too many wrong codes. Please log in again.');
  }

  /**
   * The second factor of the attempt succeeded: complete the attempt, change the session, record
   * the success and remember the browser, in one transaction, so that neither a crash nor a
   * concurrent request can leave one done without the others. A half session becomes a full one
   * (new token); a full session's step-up is recorded as a fresh proof. `first` runs before, in
   * the same transaction (a recovery code's redemption): when it declines, nothing changes and
   * undefined is returned. `extra` adds facts read in the transaction to the record and the
   * answer. Throwing rolls everything back.
   */
  async function completeSecondFactor(req: Request, res: Response, s: Session, a: AttemptWithUser, o: Completion): Promise<Completed | undefined> {
    const who = { outcome: 'success' as const, userRef: userRef(s.userId), ip: ipOf(req), userAgent: req.get('user-agent') ?? null };
    return db.transaction().execute(async (trx) => {
      if (o.first && !(await o.first(trx))) return undefined;
      if (!(await attempts.complete(a.id, s.userId, o.requireApproved, trx))) {
        throw o.requireApproved ? new HttpError(409, AppError.NOT_APPROVED, 'This login has not been approved') : new HttpError(409, AppError.ALREADY_COMPLETED, 'This login was already completed');
      }
      const extra = o.extra ? await o.extra(trx) : {};
      const success = { ...who, type: AuditType.SECOND_FACTOR, detail: { kind: o.kind, ...extra } };
      if (s.state === 'full') {
        const reauthAt = await sessions.completeReauth(s, a.id, trx);
        if (reauthAt === undefined) throw new HttpError(409, AppError.ALREADY_COMPLETED, 'This confirmation was already completed');
        await audit.recordMany([success, { ...who, type: AuditType.REAUTH, detail: { kind: o.kind } }], trx);
        return { reauthAt, extra };
      }
      const token = await sessions.promote(s, clientOf(req), trx);
      if (!token) throw new HttpError(409, AppError.ALREADY_COMPLETED, 'This login was already completed');
      await audit.recordMany([success, { ...who, type: AuditType.LOGIN, detail: { kind: o.kind, ...(o.remember ? { remember_browser: true } : {}) } }], trx);
      const { newToAccount } = await passwords.remember(req, res, s.userId, trx);
      // A complete login ends any reset link sent earlier (the password alone does not: whoever
      // knows it could otherwise keep cancelling the owner's links; nor does a passkey sign-in,
      // for someone else's passkey on the account could do the same).
      if (a.first_factor === 'password') await resets.endFor(s.userId, trx);
      const rememberToken = o.remember ? await remembered.remember(s.userId, clientOf(req), trx) : undefined;
      return { token, extra, newBrowser: newToAccount, rememberToken };
    }).then((done) => {
      // Told once the login is committed: a browser this account was never used from.
      if (done && 'token' in done && done.newBrowser) notify(req, a, 'new_browser_login');
      return done;
    });
  }

  /** Answer a completed second factor: the new cookie (login) or the proof's end (step-up). */
  function finishLogin(res: Response, done: Completed, more: Record<string, unknown> = {}): void {
    if ('reauthAt' in done) {
      res.json({ state: 'reauthenticated', reauth_until: done.reauthAt + REAUTH_WINDOW_MS, ...done.extra });
      return;
    }
    sessions.setCookie(res, done.token);
    if (done.rememberToken) remembered.setCookie(res, done.rememberToken);
    res.json({ state: 'logged_in', ...more, ...done.extra, ...(done.rememberToken ? { remembered_until: clock.now() + REMEMBER_DAYS * 86_400_000 } : {}) });
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
      await db.transaction().execute(async (trx) => {
        await attempts.attachApproval(attempt.id, { uuid: approval.uuid, number: approval.number, expiresAt, details }, trx);
        await recordIn(req, { type: AuditType.APPROVAL_REQUESTED, outcome: 'info', userRef: userRef(u.id), detail: { kind: 'push', purpose } }, trx);
      });
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
      if (!(await users.bindServiceUser(user.id, authyId))) {
        const now = await users.byId(user.id);
        if (now?.authy_id) return now.authy_id;
      }
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
      logger.error({ userId: user.id }, 'the service returned a user that another account holds; not bound');
      throw new HttpError(409, AppError.FACTOR_CONFLICT, 'Your second factor cannot be set up right now; please contact support', { reason: 'authy_id held by another account' });
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

  return { liveAttempt, endAttempt, completeSecondFactor, finishLogin, startSecondFactor, bindFreshServiceUser, sendSms };
}

export type SecondFactor = ReturnType<typeof secondFactor>;
