import { Router } from 'express';
import { AuditType } from '../../platform/audit.js';
import { HttpError } from '../../platform/errors.js';
import { ServiceCode, VerifyServiceError } from '../authy-client.js';
import { requireFullSession, requireSecondFactorSession, safeReturnTo } from '../guards.js';
import { SMS_COOL_DOWN_MS } from '../login-attempts.js';
import { dummyHash, verifyPassword } from '../passwords.js';
import { codeSchema, completeSchema, loginSchema, parseBody, reauthSchema, recoveryCodeSchema } from '../validation.js';
import { fromService, type RouteKit, userRef } from './kit.js';
import type { SecondFactor } from './second-factor.js';
import { AppError } from '../error-codes.js';


/** Login: the password step, the second factor's routes (also a step-up's), logout. */
export function loginRoutes(k: RouteKit, sf: SecondFactor): Router {
  const { p, client, sessions, attempts, recovery, resets, remembered, notify, clientOf, config, mutate, noParams, passwords, consumeCodeIp, record, recordIn, eventOf, db, audit, tooMany, coolingDown, throttlePassword, users, passkeys } = k;
  const { liveAttempt, endAttempt, completeSecondFactor, finishLogin, startSecondFactor, bindFreshServiceUser, sendSms } = sf;
  const r = Router();
  const recoveryPerUser = p.limits.create({ name: 'app:recovery:user', points: config.RECOVERY_PER_USER_LIMIT, durationSeconds: 3600, blockSeconds: 3600 });
  // Password step.
  r.post('/session', ...mutate, async (req, res) => {
    const v = parseBody(loginSchema, req.body);
    const returnTo = safeReturnTo(v.return_to, '/account');
    const user = await users.byEmail(v.email);
    const client = await throttlePassword(req, v.email, user?.id, { ipLimits: true });
    // Unknown emails are verified against a dummy hash: same work, same answer.
    const ok = await verifyPassword(user?.password_hash ?? (await dummyHash()), v.password);
    if (!user || !ok) {
      // Recorded for unknown emails too (no user, no email stored): the same database work on
      // both paths keeps their timing equal, and operators see guessing against absent accounts.
      await record(req, { type: AuditType.PASSWORD, outcome: 'failure', userRef: user ? userRef(user.id) : null, detail: { reason: user ? 'wrong_password' : 'unknown_email' } });
      throw new HttpError(401, AppError.INVALID_CREDENTIALS, 'Email or password is incorrect', { reason: user ? 'wrong password' : 'unknown email' });
    }
    // The account's consecutive failures end here. The per-client window is not reset: each
    // accepted password opens a fresh budget of code tries, so it also caps second-factor guessing
    // by someone who has the password.
    await passwords.succeeded(v.email, client);
    // Rotation: whatever session the browser had ends with the commit that starts the new one.
    const rotated = req.appSession?.tokenHash;
    // An account split off a shared service user has none: a fresh one has no authenticator, so
    // this login proves the phone by SMS before anything else.
    const authyId = user.authy_id ?? (await bindFreshServiceUser(user));
    const started = await db.transaction().execute(async (trx) => {
      // The password checked must still be the account's when the login commits: a reset or a
      // change that committed meanwhile ended every session, and this one must not outlive it.
      // On PostgreSQL the row stays locked to the commit, so a change waits for this login and
      // then ends its session; on SQLite this transaction holds the only writer.
      if ((await users.passwordHashFor(user.id, trx)) !== user.password_hash) return undefined;
      if (rotated) await sessions.delete(rotated, trx);
      // A browser the owner asked not to be asked again on: the password was the login.
      if (user.authy_id !== null && (await remembered.recognises(req, user.id, trx))) {
        const t = await sessions.create(user.id, 'full', null, clientOf(req), trx, false);
        await passwords.remember(req, res, user.id, trx);
        await resets.endFor(user.id, trx);
        await audit.recordMany([eventOf(req, { type: AuditType.PASSWORD, outcome: 'success', userRef: userRef(user.id) }), eventOf(req, { type: AuditType.LOGIN, outcome: 'success', userRef: userRef(user.id), detail: { kind: 'remembered' } })], trx);
        return { token: t };
      }
      // The attempt, its half session and the record of the password commit together.
      const a = await attempts.create(user.id, trx);
      const t = await sessions.create(user.id, 'half', a.id, clientOf(req), trx);
      await recordIn(req, { type: AuditType.PASSWORD, outcome: 'success', userRef: userRef(user.id) }, trx);
      return { token: t, attempt: a };
    });
    if (!started) throw new HttpError(401, AppError.INVALID_CREDENTIALS, 'Email or password is incorrect', { reason: 'password changed during the login' });
    const { token, attempt } = started;
    if (!attempt) {
      sessions.setCookie(res, token);
      res.json({ state: 'logged_in', return_to: returnTo });
      return;
    }
    sessions.setCookie(res, token);
    const next = await startSecondFactor(req, { id: user.id, email: user.email, authy_id: authyId }, attempt, 'login');
    res.json({ ...next, return_to: returnTo, passkey: await passkeys.hasUsable(user.id) });
  });

  // Step-up: a logged-in session proves the password and a second factor again before a factor
  // change. The second factor runs through the login's own routes (status, complete, verify,
  // recover, resend) on this session's step-up attempt; success records the proof on the session.
  r.post('/session/reauth', ...mutate, requireFullSession, async (req, res) => {
    const v = parseBody(reauthSchema, req.body);
    const s = req.appSession!;
    const user = await users.byId(s.userId);
    if (!user?.authy_id) throw new HttpError(401, AppError.UNAUTHENTICATED, 'Please log in');
    // The login's own per-client window and account-wide count: a stolen session gets no more
    // password guesses here than the login page gives.
    const client = await throttlePassword(req, user.email, user.id, { ipLimits: false });
    if (!(await verifyPassword(user.password_hash, v.password))) {
      await record(req, { type: AuditType.PASSWORD, outcome: 'failure', userRef: userRef(user.id), detail: { reason: 'wrong_password', purpose: 'reauth' } });
      throw new HttpError(401, AppError.INVALID_CREDENTIALS, 'That password is not right', { reason: 'reauth wrong password' });
    }
    await passwords.succeeded(user.email, client);
    await record(req, { type: AuditType.PASSWORD, outcome: 'success', userRef: userRef(user.id), detail: { purpose: 'reauth' } });
    const attempt = await attempts.create(user.id);
    if (!(await sessions.startReauth(s, attempt.id))) throw new HttpError(401, AppError.UNAUTHENTICATED, 'Please log in');
    const next = await startSecondFactor(req, { id: user.id, email: user.email, authy_id: user.authy_id }, attempt, 'reauth');
    res.json({ ...next, purpose: 'reauth', passkey: await passkeys.hasUsable(user.id) });
  });

  // Whether this session may change factors now, and until when.
  r.get('/session/reauth', requireFullSession, (req, res) => {
    const until = sessions.reauthUntil(req.appSession!);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ fresh: until !== null, reauth_until: until });
  });

  // Approved on the device: exchange the half session for a full one (new token).
  r.post('/session/complete', ...mutate, requireSecondFactorSession, async (req, res) => {
    const v = parseBody(completeSchema, req.body);
    const { s, a } = await liveAttempt(req, res);
    finishLogin(res, (await completeSecondFactor(req, res, s, a, { requireApproved: true, kind: 'push', remember: v.remember }))!);
  });

  // A code from an authenticator (the Twofold one or any TOTP app) or from an SMS.
  r.post('/session/verify', ...mutate, requireSecondFactorSession, async (req, res) => {
    const v = parseBody(codeSchema, req.body);
    const { s, a } = await liveAttempt(req, res);
    await consumeCodeIp(req);
    const user = { id: s.userId, authy_id: a.authy_id };
    if (user.authy_id === null) throw new HttpError(401, AppError.LOGIN_EXPIRED, 'This login has ended; please log in again');
    const max = config.OTP_MAX_ATTEMPTS;
    const tries = await attempts.reserveCodeTry(a.id, max);
    if (tries === undefined) throw await endAttempt(req, res, s, a);
    let kind: 'totp' | 'sms';
    try {
      const r = await client.verifyToken(user.authy_id, v.code);
      kind = r.kind ?? (a.last_sms_at !== null ? 'sms' : 'totp');
    } catch (e) {
      if (e instanceof VerifyServiceError && (e.code === ServiceCode.TOKEN_INVALID || e.code === ServiceCode.TOKEN_REUSED || e.status === 401)) {
        await record(req, { type: AuditType.SECOND_FACTOR, outcome: 'failure', userRef: userRef(user.id), detail: { kind: a.last_sms_at !== null ? 'sms' : 'totp', reason: e.code === ServiceCode.TOKEN_REUSED ? 'reused' : 'invalid' } });
        const left = max - tries;
        if (left <= 0) throw await endAttempt(req, res, s, a);
        const message = e.code === ServiceCode.TOKEN_REUSED ? 'That code was already used. Wait for the next one.' : 'That code is not right. Check it and try again.';
        throw new HttpError(400, AppError.CODE_INVALID, message, { details: { attempts_left: left } });
      }
      await attempts.refundCodeTry(a.id);
      throw fromService(e);
    }
    finishLogin(res, (await completeSecondFactor(req, res, s, a, { requireApproved: false, kind, remember: v.remember }))!);
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
    if (tries === undefined) throw await endAttempt(req, res, s, a);
    // The code is redeemed in the completion's transaction: if the attempt was completed by
    // another request meanwhile, the code stays unused.
    const done = await completeSecondFactor(req, res, s, a, {
      requireApproved: false,
      kind: 'recovery',
      remember: v.remember,
      first: (trx) => recovery.redeem(s.userId, v.code, trx),
      extra: async (trx) => ({ recovery_codes_remaining: (await recovery.status(s.userId, trx)).remaining }),
    });
    if (!done) {
      await record(req, { type: AuditType.SECOND_FACTOR, outcome: 'failure', userRef: userRef(s.userId), detail: { kind: 'recovery', reason: 'invalid' } });
      const left = max - tries;
      if (left <= 0) throw await endAttempt(req, res, s, a);
      throw new HttpError(400, AppError.CODE_INVALID, 'That recovery code is not right, or it was already used.', { details: { attempts_left: left } });
    }
    notify(req, s.userId, 'recovery_code_used');
    finishLogin(res, done);
  });

  // Another SMS, at most one per SMS_COOL_DOWN_MS per attempt.
  r.post('/session/resend', ...mutate, requireSecondFactorSession, noParams, async (req, res) => {
    const { a } = await liveAttempt(req, res);
    const authyId = a.authy_id;
    if (authyId === null) throw new HttpError(401, AppError.LOGIN_EXPIRED, 'This login has ended; please log in again');
    const cool = await attempts.startSmsCoolDown(a.id);
    if (!cool.started) {
      throw coolingDown(cool.retryAfterSeconds);
    }
    try {
      await sendSms(req, a, authyId, true);
    } catch (e) {
      await attempts.clearSmsCoolDown(a.id, cool.at);
      throw fromService(e);
    }
    res.json({ sent: true, via: 'sms', retry_after: SMS_COOL_DOWN_MS / 1000 });
  });

  r.delete('/session', ...mutate, noParams, async (req, res) => {
    const s = req.appSession;
    if (!s) throw new HttpError(401, AppError.UNAUTHENTICATED, 'Please log in');
    await sessions.delete(s.tokenHash);
    sessions.clearCookie(res);
    await record(req, { type: AuditType.LOGOUT, outcome: 'success', userRef: userRef(s.userId), detail: { state: s.state } });
    res.json({ state: 'logged_out' });
  });

  return r;
}
