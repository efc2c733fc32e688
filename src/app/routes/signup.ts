import { type Request, type Response, Router } from 'express';
import { parsePhoneNumberFromString } from '../../platform/phone-numbers.js';
import { AuditType } from '../../platform/audit.js';
import { clientNetwork } from '../../platform/client-network.js';
import { isUniqueViolation, retryWhileUnavailable } from '../../platform/db.js';
import { HttpError } from '../../platform/errors.js';
import { ServiceCode, VerifyServiceError } from '../authy-client.js';
import { hashPassword, verifyPassword } from '../passwords.js';
import { constantTimeEqual, sha256Hex } from '../../platform/crypto.js';
import { EMAIL_LINK_TTL_MS, PENDING_SIGNUP_MAX_TRIES, PENDING_SIGNUP_TTL_MS, type PendingSignup, PHONE_CODE_COOL_DOWN_MS } from '../pending-signups.js';
import { noticeMail, verifyEmailMail } from '../account-mail.js';
import { readSessionCookie, signupCookiePolicy } from '../sessions.js';
import { codeSchema, emptySchema, parseBody, signupLinkSchema, signupSchema } from '../validation.js';
import { fromService, type RouteKit, userRef } from './kit.js';
import { AppError } from '../error-codes.js';

/** The SPA's page a signup's email link opens; the token rides in the fragment, which no server or log sees. */
export const VERIFY_EMAIL_PAGE = '/signup/verify-email';

/** Phone codes at signup: 6 digits (the service's default of 4 is too easy to guess). */
const PHONE_CODE_LENGTH = 6;

/**
 * Signup, in three steps: `POST /user` keeps the form in a pending signup (no user exists yet) and
 * texts a code to the phone; `POST /user/verify-phone` with that code mails a link to the email;
 * `POST /user/verify-email` with the link's token creates the account and logs that browser in.
 * Nobody can bind a phone or an address they do not hold.
 */
export function signupRoutes(k: RouteKit): Router {
  const { p, client, sessions, pending, config, clock, logger, mutate, passwords, consumeCodeIp, consumeLinkIp, ipOf, record, coolingDown, consumeLimits, users, clientOf, originOf } = k;
  const r = Router();
  const signupIp = p.limits.create({ name: 'app:signup:ip', points: config.LOGIN_PER_IP_LIMIT, durationSeconds: 3600 });
  const signupMailPerAddress = p.limits.create({ name: 'app:signup-mail:address', points: config.MAIL_PER_ADDRESS_LIMIT, durationSeconds: 3600 });
  const signupCookie = signupCookiePolicy(config);
  // A taken email answers exactly like a new one at every step (the same statuses, bodies and
  // cookies, after the same work): after the right phone code both are told a link was mailed.
  // A new address gets the link that creates the account; a taken one gets a notice to its owner
  // instead, and nothing is created. Only whoever reads the mailbox learns which it was.
  const phoneOf = (x: { phone: string; country_code: string }) => ({ cellphone: x.phone, countryCode: x.country_code });
  const prettyPhone = (e164: string) => parsePhoneNumberFromString(e164)?.formatInternational() ?? e164;
  const setSignupCookie = (res: Response, token: string, maxAge = PENDING_SIGNUP_TTL_MS) =>
    res.cookie(signupCookie.name, token, { httpOnly: true, sameSite: 'lax', path: '/', secure: signupCookie.secure, maxAge });
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

  const retryAfter = (row: PendingSignup) => Math.max(0, Math.ceil(((row.last_sent_at ?? 0) + PHONE_CODE_COOL_DOWN_MS - clock.now()) / 1000));
  const pendingView = (row: PendingSignup) =>
    row.phone_verified_at === null
      ? { state: 'verify_phone', phone: prettyPhone(row.e164), retry_after: retryAfter(row), attempts_left: PENDING_SIGNUP_MAX_TRIES - row.code_tries, expires_at: row.expires_at }
      : { state: 'verify_email', email: row.email, retry_after: retryAfter(row), expires_at: row.expires_at };

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

  /**
   * Mail the signup's email link, or, to an address that has an account, a notice instead. At most
   * MAIL_PER_ADDRESS_LIMIT an hour to one address, whichever it gets (a signup's resends must not
   * flood a stranger's mailbox); past that nothing is sent, and the answer, given before, is the same.
   * It runs after the answer, through a database that may be away for a while: the address is
   * counted once and the rest is tried again until it goes through (a count repeated with each
   * try would, with counters in Redis, have used up the address's hour during an outage and
   * dropped the link).
   */
  async function mailLink(req: Request, row: PendingSignup, token: string): Promise<void> {
    // A count that throws was not taken (the database's counters), so it may be tried again.
    if (!(await retryWhileUnavailable(() => signupMailPerAddress.consume(row.email))).allowed) {
      logger.warn({ reason: 'signup mail per address' }, 'signup mail dropped: too many to one address this hour');
      return;
    }
    await retryWhileUnavailable(() => sendLink(req, row, token));
  }

  async function sendLink(req: Request, row: PendingSignup, token: string): Promise<void> {
    const taken = await users.idByEmail(row.email);
    const origin = originOf(req);
    if (taken === undefined) {
      p.mail.post(verifyEmailMail(row.email, `${config.PUBLIC_URL}${VERIFY_EMAIL_PAGE}#token=${token}`, EMAIL_LINK_TTL_MS / 3_600_000, { phoneEnd: row.e164.slice(-2) }, origin));
    } else {
      await record(req, { type: AuditType.SIGNUP, outcome: 'failure', userRef: userRef(taken), detail: { reason: 'duplicate_email' } });
      p.mail.post(noticeMail(row.email, 'signup_attempt', origin));
    }
  }

  // The right phone code: the signup now waits for its email link (mailed after the answer).
  r.post('/user/verify-phone', ...mutate, async (req, res) => {
    const v = parseBody(codeSchema, req.body);
    const row = await livePending(req, res);
    if (row.phone_verified_at !== null) throw new HttpError(409, AppError.ALREADY_COMPLETED, 'Your phone is already confirmed: open the link we emailed you.');
    await consumeCodeIp(req);
    await checkPhoneCode(res, row, v.code);
    // One code, one link: of two racing requests only the one that moved the row on goes on.
    const token = await pending.phoneProved(row.token_hash);
    if (token === undefined) {
      clearSignupCookie(res);
      throw new HttpError(401, AppError.SIGNUP_EXPIRED, 'This signup has ended; please fill in the form again');
    }
    const now = clock.now();
    const moved = { ...row, phone_verified_at: now, last_sent_at: now, expires_at: now + EMAIL_LINK_TTL_MS };
    setSignupCookie(res, readSessionCookie(req, signupCookie.name)!, EMAIL_LINK_TTL_MS);
    res.status(202).json(pendingView(moved));
    void mailLink(req, moved, token).catch((err: unknown) => logger.error({ err }, 'signup link not sent'));
  });

  // Another email link, at most one per PHONE_CODE_COOL_DOWN_MS (the earlier link stops working).
  r.post('/user/resend-email', ...mutate, async (req, res) => {
    parseBody(emptySchema, req.body);
    const row = await livePending(req, res);
    if (row.phone_verified_at === null) throw new HttpError(409, AppError.PHONE_NOT_CONFIRMED, 'Confirm your phone first: enter the code we texted you.');
    const cool = await pending.startCoolDown(row.token_hash);
    if (!cool.started) throw coolingDown(cool.retryAfterSeconds);
    const token = await pending.newEmailToken(row.token_hash);
    if (token === undefined) throw new HttpError(401, AppError.SIGNUP_EXPIRED, 'This signup has ended; please fill in the form again');
    res.json({ sent: true, via: 'email', retry_after: PHONE_CODE_COOL_DOWN_MS / 1000 });
    void mailLink(req, row, token).catch((err: unknown) => logger.error({ err }, 'signup link not sent'));
  });

  // The email link: the account is created and this browser logged in. Whoever opens it holds
  // the mailbox, so an address taken meanwhile may be said so. The link completes only the
  // signup that asked for it: in the browser that signed up (its signup cookie), or, elsewhere,
  // with the password chosen at signup. A stranger who signs up with someone's address cannot get
  // its owner to create the stranger's account by clicking.
  r.post('/user/verify-email', ...mutate, async (req, res) => {
    const v = parseBody(signupLinkSchema, req.body);
    await consumeLinkIp(req);
    const invalid = () => new HttpError(400, AppError.SIGNUP_LINK_INVALID, 'This link has expired or was already used. Please sign up again.');
    const found = await pending.byEmailToken(v.token);
    if (!found) throw invalid();
    const cookie = readSessionCookie(req, signupCookie.name);
    if (cookie === undefined || !constantTimeEqual(sha256Hex(cookie), found.token_hash)) {
      if (v.password === undefined) throw new HttpError(401, AppError.PASSWORD_REQUIRED, 'This link was opened in another browser than the one you signed up in: enter the password you chose to finish.');
      if (!(await verifyPassword(found.password_hash, v.password))) {
        throw new HttpError(400, AppError.VALIDATION, 'password: is not the password chosen at signup', { details: { fields: { password: 'is not the password chosen at signup' } } });
      }
    }
    const row = await pending.takeByEmailToken(v.token);
    if (!row) throw new HttpError(400, AppError.SIGNUP_LINK_INVALID, 'This link has expired or was already used. Please sign up again.');
    if (readSessionCookie(req, signupCookie.name)) clearSignupCookie(res);
    const made = await createAccount(row);
    if (!('id' in made)) {
      if (made.existing !== undefined) await record(req, { type: AuditType.SIGNUP, outcome: 'failure', userRef: userRef(made.existing), detail: { reason: 'duplicate_email' } });
      throw new HttpError(409, AppError.EMAIL_TAKEN, 'This email address already has an account. Log in, or use "Forgot your password?".');
    }
    const { id } = made;
    // Signup proved the password, the phone and the email just now: the session may change factors at once.
    const token = await sessions.create(id, 'full', null, clientOf(req));
    sessions.setCookie(res, token);
    await passwords.remember(req, res, id);
    await record(req, { type: AuditType.SIGNUP, outcome: 'success', userRef: userRef(id) });
    await record(req, { type: AuditType.LOGIN, outcome: 'success', userRef: userRef(id), detail: { kind: 'signup' } });
    res.status(201).json({ state: 'logged_in' });
  });

  // Another phone code for the pending signup, at most one per PHONE_CODE_COOL_DOWN_MS (the
  // service also caps codes per phone and per IP).
  r.post('/user/resend-phone', ...mutate, async (req, res) => {
    parseBody(emptySchema, req.body);
    const row = await livePending(req, res);
    if (row.phone_verified_at !== null) throw new HttpError(409, AppError.ALREADY_COMPLETED, 'Your phone is already confirmed: open the link we emailed you.');
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
