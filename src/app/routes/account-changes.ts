import { Router } from 'express';
import { AuditType } from '../../platform/audit.js';
import { HttpError } from '../../platform/errors.js';
import { emailChangeMail } from '../account-mail.js';
import { EMAIL_CHANGE_HOURS } from '../email-changes.js';
import { AppError } from '../error-codes.js';
import { requireFullSession, requireRecentAuth } from '../guards.js';
import { hashPassword, verifyPassword } from '../passwords.js';
import { changeEmailSchema, changePasswordSchema, parseBody, verifyEmailSchema } from '../validation.js';
import { type RouteKit, userRef } from './kit.js';

/** The SPA's page a change-of-email link opens (the token in the fragment). */
export const EMAIL_CHANGE_PAGE = '/account/email';

/**
 * The account page's changes of password and email, each behind a fresh step-up (the password
 * and a second factor within 5 minutes), each announced to the account's address.
 */
export function accountChangeRoutes(k: RouteKit): Router {
  const { p, config, db, logger, mutate, users, sessions, resets, passwords, emailChanges, endOtherAccess, currentAccount, throttlePassword, record, consumeLinkIp, originOf, notify } = k;
  const r = Router();
  const changesPerAccount = p.limits.create({ name: 'app:email-change:user', points: 5, durationSeconds: 3600 });

  // A new password: the current one too (a session left open is not enough), then every other
  // session ends, every remembered browser and reset link with it.
  r.post('/user/password', ...mutate, requireFullSession, requireRecentAuth(sessions), async (req, res) => {
    const v = parseBody(changePasswordSchema, req.body);
    const s = req.appSession!;
    const user = await currentAccount(req);
    const client = await throttlePassword(req, user.email, user.id, { ipLimits: false });
    if (!(await verifyPassword(user.password_hash, v.current_password))) {
      await record(req, { type: AuditType.PASSWORD, outcome: 'failure', userRef: userRef(user.id), detail: { reason: 'wrong_password', purpose: 'change' } });
      throw new HttpError(400, AppError.VALIDATION, 'current_password: is not your current password', { details: { fields: { current_password: 'is not your current password' } } });
    }
    await passwords.succeeded(user.email, client);
    const hash = await hashPassword(v.password);
    const ended = await db.transaction().execute(async (trx) => {
      await users.setPasswordHash(user.id, hash, trx);
      return (await endOtherAccess(user.id, trx, s.tokenHash)).sessions;
    });
    await record(req, { type: AuditType.PASSWORD_CHANGED, outcome: 'success', userRef: userRef(user.id), detail: { sessions_ended: ended } });
    notify(req, user.id, 'password_changed');
    res.json({ state: 'password_changed', sessions_ended: ended });
  });

  // A new address: a link goes to it (nothing changes until it is opened), a notice to the old.
  // An address another account has gets no link, and the answer does not say so.
  r.post('/user/email', ...mutate, requireFullSession, requireRecentAuth(sessions), async (req, res) => {
    const v = parseBody(changeEmailSchema, req.body);
    const user = await currentAccount(req);
    if (v.email === user.email) throw new HttpError(400, AppError.VALIDATION, 'email: is already your address', { details: { fields: { email: 'is already your address' } } });
    const lim = await changesPerAccount.consume(String(user.id));
    if (!lim.allowed) throw k.tooMany(lim.retryAfterSeconds, 'email changes per account');
    const token = await emailChanges.request(user.id, v.email);
    await record(req, { type: AuditType.EMAIL_CHANGE_REQUESTED, outcome: 'info', userRef: userRef(user.id) });
    res.status(202).json({ state: 'link_sent', email: v.email, expires_in_hours: EMAIL_CHANGE_HOURS });
    const origin = originOf(req);
    notify(req, user.id, 'email_change_requested');
    void users
      .idByEmail(v.email)
      .then((taken) => {
        if (taken === undefined) p.mail.post(emailChangeMail(v.email, `${config.PUBLIC_URL}${EMAIL_CHANGE_PAGE}#token=${token}`, EMAIL_CHANGE_HOURS, origin));
      })
      .catch((err: unknown) => logger.error({ err }, 'email change link not sent'));
  });

  // The link from the new mailbox, in whichever browser opens it: the address changes, the old
  // one is told, and reset links sent to it end.
  r.post('/user/email/confirm', ...mutate, async (req, res) => {
    const v = parseBody(verifyEmailSchema, req.body);
    await consumeLinkIp(req);
    const done = await db.transaction().execute(async (trx) => {
      const change = await emailChanges.take(v.token, trx);
      if (!change) return undefined;
      const old = await trx.selectFrom('app_users').select('email').where('id', '=', change.userId).executeTakeFirst();
      if (!old) return undefined;
      await resets.endFor(change.userId, trx);
      // Last: in PostgreSQL a refused update ends the transaction.
      if (!(await users.setEmail(change.userId, change.newEmail, trx))) {
        throw new HttpError(409, AppError.EMAIL_TAKEN, 'This email address already has an account. Choose another one from your account page.');
      }
      return { ...change, oldEmail: old.email };
    });
    if (!done) throw new HttpError(400, AppError.EMAIL_LINK_INVALID, 'This link has expired or was already used. Ask for a new one from your account page.');
    await record(req, { type: AuditType.EMAIL_CHANGED, outcome: 'success', userRef: userRef(done.userId) });
    notify(req, { email: done.oldEmail }, 'email_changed');
    res.json({ state: 'email_changed', email: done.newEmail });
  });

  return r;
}
