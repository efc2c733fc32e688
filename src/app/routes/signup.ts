import { type Request, type Response, Router } from 'express';
import { parsePhoneNumberFromString } from '../../platform/phone-numbers.js';
import { AuditType } from '../../platform/audit.js';
import { clientNetwork } from '../../platform/client-network.js';
import { randomToken } from '../../platform/crypto.js';
import { isUniqueViolation } from '../../platform/db.js';
import { HttpError } from '../../platform/errors.js';
import { ServiceCode, VerifyServiceError } from '../authy-client.js';
import { hashPassword } from '../passwords.js';
import { PENDING_SIGNUP_MAX_TRIES, PENDING_SIGNUP_TTL_MS, type PendingSignup, PHONE_CODE_COOL_DOWN_MS } from '../pending-signups.js';
import { readSessionCookie, signupCookiePolicy } from '../sessions.js';
import { codeSchema, emptySchema, parseBody, signupSchema } from '../validation.js';
import { fromService, type RouteKit, userRef } from './kit.js';
import { AppError } from '../error-codes.js';

/** Phone codes at signup: 6 digits (the service's default of 4 is too easy to guess). */
const PHONE_CODE_LENGTH = 6;

/**
 * Signup, in two steps: `POST /user` keeps the form in a pending signup (no user exists yet) and
 * texts a code to the phone; `POST /user/verify-phone` with that code creates the account. Nobody
 * can bind a phone they do not hold.
 */
export function signupRoutes(k: RouteKit): Router {
  const { p, client, sessions, pending, config, clock, logger, mutate, passwords, consumeCodeIp, ipOf, record, coolingDown, consumeLimits, users, clientOf } = k;
  const r = Router();
  const signupIp = p.limits.create({ name: 'app:signup:ip', points: config.LOGIN_PER_IP_LIMIT, durationSeconds: 3600 });
  const signupCookie = signupCookiePolicy(config);
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
        throw new HttpError(400, AppError.VALIDATION, `phone: ${e.message}`, { details: { fields: { phone: e.message } }, reason: `service ${e.code}` });
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
      throw new HttpError(401, AppError.SIGNUP_EXPIRED, 'This signup has ended; please fill in the form again');
    }
    return row;
  }

  // Where the signup stands (the page reloads, or comes back to the code step).
  r.get('/user/signup', async (req, res) => {
    const row = await livePending(req, res);
    res.setHeader('Cache-Control', 'no-store');
    res.json(pendingView(row));
  });

  /**
   * Check the signup's phone code, one reserved try at a time: a wrong or expired code answers 400
   * with the tries left, the last wrong one ends the signup (403).
   */
  async function checkPhoneCode(res: Response, row: PendingSignup, code: string): Promise<void> {
    // Out of tries, the pending signup is over: no try is left to reserve, and the sweep removes
    // it. It is not deleted here, so that a right code already being checked still counts.
    const endSignup = () => {
      clearSignupCookie(res);
      return new HttpError(403, AppError.TOO_MANY_ATTEMPTS, 'Too many wrong codes. Please fill in the form again.');
    };
    const tries = await pending.reserveTry(row.token_hash);
    if (tries === undefined) throw endSignup();
    try {
      await client.checkPhoneVerification(phoneOf(row), code);
    } catch (e) {
      // Unreachable, or over the service's check cap for this phone: no code was compared.
      if (!(e instanceof VerifyServiceError) || e.status === 0 || e.status === 429 || e.status >= 500) {
        await pending.refundTry(row.token_hash);
        throw fromService(e);
      }
      const left = PENDING_SIGNUP_MAX_TRIES - tries;
      if (left <= 0) throw endSignup();
      if (e.code === ServiceCode.CODE_EXPIRED) throw new HttpError(400, AppError.CODE_EXPIRED, 'That code has expired or was replaced. Ask for a new code.', { details: { attempts_left: left } });
      throw new HttpError(400, AppError.CODE_INVALID, 'That code is not right. Check the text message and try again.', { details: { attempts_left: left } });
    }
  }

  /**
   * Create the account of a proved signup: its id, or undefined when the email has an account
   * (`existing`, if it can be told). Registers at the service first (the same phone and email give
   * the same id), then creates the user in one insert that already holds the id: a crash in
   * between leaves at most an unused service user, never a local user without a second factor.
   */
  async function createAccount(row: PendingSignup): Promise<{ id: number } | { existing: number | undefined }> {
    const taken = await users.idByEmail(row.email);
    if (taken !== undefined) return { existing: taken };
    const authyId = await client.registerUser({ email: row.email, cellphone: row.phone, countryCode: row.country_code }).catch((e: unknown) => Promise.reject(fromService(e)));
    try {
      const id = await users.create({
        email: row.email,
        full_name: row.full_name,
        password_hash: row.password_hash,
        country_code: row.country_code,
        region: row.region,
        phone: row.phone,
        authy_id: authyId,
      });
      return { id };
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
      const sameEmail = await users.idByEmail(row.email);
      // Not the email: the service gave an id another account holds. Never bind it twice.
      if (sameEmail === undefined) {
        logger.error({ authyId }, 'signup: the service returned a user that another account holds');
        throw new HttpError(409, AppError.FACTOR_CONFLICT, 'Your account cannot be created right now; please contact support', { reason: 'authy_id held by another account' });
      }
      // Otherwise a concurrent signup with the same email won the insert: answer as a duplicate.
      return { existing: sameEmail };
    }
  }

  /** A taken email's answer: the new account's, in about its time, with a session that does not exist. */
  async function answerAsDuplicate(req: Request, res: Response, t0: number, existing: number | undefined): Promise<void> {
    if (existing !== undefined) await record(req, { type: AuditType.SIGNUP, outcome: 'failure', userRef: userRef(existing), detail: { reason: 'duplicate_email' } });
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
  }

  r.post('/user/verify-phone', ...mutate, async (req, res) => {
    const v = parseBody(codeSchema, req.body);
    const row = await livePending(req, res);
    await consumeCodeIp(req);
    await checkPhoneCode(res, row, v.code);
    const t0 = performance.now();
    // One code, one account: of two racing requests only the one that removed the row goes on.
    if (!(await pending.take(row.token_hash))) {
      clearSignupCookie(res);
      throw new HttpError(401, AppError.SIGNUP_EXPIRED, 'This signup has ended; please fill in the form again');
    }
    clearSignupCookie(res);
    const made = await createAccount(row);
    if (!('id' in made)) return answerAsDuplicate(req, res, t0, made.existing);
    const { id } = made;
    // Signup proved the password and the phone just now: the session may change factors at once.
    const token = await sessions.create(id, 'full', null, clientOf(req));
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
      throw coolingDown(cool.retryAfterSeconds);
    }
    try {
      await sendPhoneCode(req, row);
    } catch (e) {
      await pending.clearCoolDown(row.token_hash, cool.at);
      throw e;
    }
    res.json({ sent: true, via: 'sms', retry_after: PHONE_CODE_COOL_DOWN_MS / 1000 });
  });

  return r;
}
