import { Router } from 'express';
import { parsePhoneNumberFromString } from '../../platform/phone-numbers.js';
import { AuditType } from '../../platform/audit.js';
import { HttpError } from '../../platform/errors.js';
import { ServiceCode, VerifyServiceError } from '../authy-client.js';
import { AppError } from '../error-codes.js';
import { requireFullSession, requireRecentAuth } from '../guards.js';
import { PHONE_CHANGE_MAX_TRIES, type PhoneChange } from '../phone-changes.js';
import { changePhoneSchema, codeSchema, parseBody } from '../validation.js';
import { fromService, type RouteKit, userRef } from './kit.js';

/**
 * The account page's change of phone: behind a step-up, a code texted to the new number proves
 * it; then the service moves the account's user to it (every authenticator stays), text codes go
 * there, and the owner is told by email.
 */
export function accountPhoneRoutes(k: RouteKit): Router {
  const { client, db, users, sessions, phoneChanges, ipOf, record, consumeCodeIp, factorChanged, currentAccount } = k;
  const r = Router();
  // Codes texted to new numbers per account: the service caps texts per number, this caps one
  // account's reach over many numbers.
  const startsPerAccount = k.p.limits.create({ name: 'app:phone-change:user', points: 5, durationSeconds: 3600 });
  const pretty = (e164: string) => parsePhoneNumberFromString(e164)?.formatInternational() ?? e164;
  const target = (c: PhoneChange) => ({ cellphone: c.phone, countryCode: c.country_code });
  const view = (c: PhoneChange) => ({ state: 'verify_phone', phone: pretty(c.e164), attempts_left: PHONE_CHANGE_MAX_TRIES - c.code_tries, expires_at: c.expires_at });

  r.post('/user/phone', ...k.mutate, requireFullSession, requireRecentAuth(sessions), async (req, res) => {
    const v = parseBody(changePhoneSchema, req.body);
    const user = await currentAccount(req);
    if (v.parsedPhone.nationalNumber === user.phone && v.parsedPhone.countryCode === user.country_code) {
      throw new HttpError(400, AppError.VALIDATION, 'phone: is already your number', { details: { fields: { phone: 'is already your number' } } });
    }
    const lim = await startsPerAccount.consume(String(user.id));
    if (!lim.allowed) throw k.tooMany(lim.retryAfterSeconds, 'phone changes per account');
    try {
      await client.startPhoneVerification({ cellphone: v.parsedPhone.nationalNumber, countryCode: v.parsedPhone.countryCode }, 6, ipOf(req));
    } catch (e) {
      if (e instanceof VerifyServiceError && e.status === 400) throw new HttpError(400, AppError.VALIDATION, `phone: ${e.message}`, { details: { fields: { phone: e.message } }, reason: `service ${e.code}` });
      throw fromService(e);
    }
    res.status(202).json(view(await phoneChanges.start(user.id, v.parsedPhone)));
  });

  r.post('/user/phone/verify', ...k.mutate, requireFullSession, async (req, res) => {
    const v = parseBody(codeSchema, req.body);
    const user = await currentAccount(req);
    await consumeCodeIp(req);
    const change = await phoneChanges.live(user.id);
    if (!change) throw new HttpError(409, AppError.PHONE_CHANGE_EXPIRED, 'No change of phone is waiting for a code: start again from your account page.');
    const tries = await phoneChanges.reserveTry(user.id);
    const over = async () => {
      await phoneChanges.end(user.id);
      return new HttpError(403, AppError.TOO_MANY_ATTEMPTS, 'Too many wrong codes: the phone was not changed. Start again from your account page.');
    };
    if (tries === undefined) throw await over();
    try {
      await client.checkPhoneVerification(target(change), v.code);
    } catch (e) {
      if (!(e instanceof VerifyServiceError) || e.status === 0 || e.status === 429 || e.status >= 500) {
        await phoneChanges.refundTry(user.id);
        throw fromService(e);
      }
      const left = PHONE_CHANGE_MAX_TRIES - tries;
      if (left <= 0) throw await over();
      if (e.code === ServiceCode.CODE_EXPIRED) throw new HttpError(400, AppError.CODE_EXPIRED, 'That code has expired or was replaced. Start the change again.', { details: { attempts_left: left } });
      throw new HttpError(400, AppError.CODE_INVALID, 'That code is not right. Check the text message and try again.', { details: { attempts_left: left } });
    }
    // One code, one change: of two racing requests only the one that ended the change goes on.
    if (!(await phoneChanges.end(user.id))) throw new HttpError(409, AppError.PHONE_CHANGE_EXPIRED, 'No change of phone is waiting for a code: start again from your account page.');
    await client.changePhone(user.authy_id, target(change)).catch((e: unknown) => Promise.reject(fromService(e)));
    await db.transaction().execute((trx) => users.setPhone(user.id, change, trx));
    await record(req, { type: AuditType.PHONE_CHANGED, outcome: 'success', userRef: userRef(user.id) });
    await factorChanged(req, user.id, 'phone_changed');
    res.json({ state: 'phone_changed', phone: pretty(change.e164) });
  });

  return r;
}
