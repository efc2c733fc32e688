import { Router } from 'express';
import { AuditType } from '../../platform/audit.js';
import { clientNetwork } from '../../platform/client-network.js';
import { HttpError } from '../../platform/errors.js';
import { resetLinkMail } from '../account-mail.js';
import { AppError } from '../error-codes.js';
import { RESET_LINK_MINUTES } from '../password-resets.js';
import { hashPassword } from '../passwords.js';
import { forgotPasswordSchema, parseBody, resetPasswordSchema } from '../validation.js';
import { type RouteKit, userRef } from './kit.js';

/** The SPA's page a reset link opens; the token rides in the fragment, which no server or log sees. */
export const RESET_PAGE = '/password/reset';

/** "Forgot your password?": a single-use link by email, then a new password. */
export function passwordRoutes(k: RouteKit): Router {
  const { p, config, db, logger, mutate, users, sessions, resets, passwords, endOtherAccess, ipOf, record, consumeLimits, consumeLinkIp, originOf, notify } = k;
  const r = Router();
  const mailPerIp = p.limits.create({ name: 'app:mail:ip', points: config.MAIL_PER_IP_LIMIT, durationSeconds: 15 * 60, blockSeconds: 15 * 60 });
  const mailPerAddress = p.limits.create({ name: 'app:mail:address', points: config.MAIL_PER_ADDRESS_LIMIT, durationSeconds: 3600, blockSeconds: 3600 });

  // The same answer, after the same work, for every address: whether an account has it shows
  // only in its owner's mailbox. The link is made and mailed after the answer has left.
  r.post('/password/forgot', ...mutate, async (req, res) => {
    const v = parseBody(forgotPasswordSchema, req.body);
    await consumeLimits([[mailPerIp, clientNetwork(ipOf(req))], [mailPerAddress, v.email]], 'reset links');
    const user = await users.byEmail(v.email);
    await record(req, { type: AuditType.PASSWORD_RESET_REQUESTED, outcome: 'info', userRef: user ? userRef(user.id) : null });
    res.status(202).json({ state: 'link_sent', expires_in_minutes: RESET_LINK_MINUTES });
    if (!user) return;
    const origin = originOf(req);
    void resets
      .issue(user.id)
      .then((token) => p.mail.post(resetLinkMail(user.email, `${config.PUBLIC_URL}${RESET_PAGE}#token=${token}`, RESET_LINK_MINUTES, origin)))
      .catch((err: unknown) => logger.error({ err }, 'reset link not made'));
  });

  // The link's token and a new password: the password changes, every session of the account
  // ends, the link is spent. The next login still asks for the second factor.
  r.post('/password/reset', ...mutate, async (req, res) => {
    const v = parseBody(resetPasswordSchema, req.body);
    await consumeLinkIp(req);
    const invalid = () => new HttpError(400, AppError.RESET_LINK_INVALID, 'This link has expired or was already used. Ask for a new one from the login page.');
    const owner = await resets.liveOwner(v.token);
    if (owner === undefined) throw invalid();
    const hash = await hashPassword(v.password);
    const userId = await db.transaction().execute(async (trx) => {
      // The account's row first, then the link: the order a login takes them in (it locks the row
      // to check its password, then may end the account's links), so the two never deadlock.
      await users.passwordHashFor(owner, trx);
      const id = await resets.redeem(v.token, trx);
      if (id === undefined) return undefined;
      await users.setPasswordHash(id, hash, trx);
      await endOtherAccess(id, trx);
      return id;
    });
    if (userId === undefined) throw invalid();
    if (req.appSession) sessions.clearCookie(res);
    // Proving the mailbox ends the account's run of wrong passwords, as the right password does.
    const user = await users.byId(userId);
    if (user) await passwords.succeeded(user.email, await passwords.client(req, ipOf(req), userId));
    await record(req, { type: AuditType.PASSWORD_RESET, outcome: 'success', userRef: userRef(userId) });
    notify(req, userId, 'password_reset');
    res.json({ state: 'password_reset' });
  });

  return r;
}
