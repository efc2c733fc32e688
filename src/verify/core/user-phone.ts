import { AuditType } from '../../platform/audit.js';
import type { ApiCall, ApiRoute } from '../api.js';
import { AuthyCode, AuthyError } from '../authy-errors.js';
import { param } from '../authy-http.js';
import type { CorePlatform } from '../schema.js';
import { maskForStatus, parsePhone } from './phone.js';
import type { UserStore, VerifyUser } from './users.js';

/**
 * `POST /protected/json/users/{id}/phone` (Twofold extension, docs/authy-compat.md): the user's
 * phone becomes `cellphone` in `country_code`, keeping every factor of the user. The app proves
 * the new number first (a phone verification), as it proves the first one before `users/new`.
 */
export function changePhoneOp(d: { p: CorePlatform; users: UserStore }, requireUser: (c: ApiCall) => Promise<VerifyUser>): ApiRoute['op'] {
  return async (c) => {
    const user = await requireUser(c);
    const phone = parsePhone(param(c.params, 'cellphone'), param(c.params, 'country_code'));
    if (!phone) throw new AuthyError(400, AuthyCode.USER_NOT_VALID, 'User was not valid', { errors: { cellphone: 'is invalid' }, reason: 'invalid cellphone' });
    if (!(await d.users.changePhone(user.appId, user.id, phone))) {
      throw new AuthyError(400, AuthyCode.USER_NOT_VALID, 'User was not valid', { errors: { cellphone: 'belongs to another user with this email' }, reason: 'phone and email taken' });
    }
    await d.p.audit.record({ type: AuditType.PHONE_CHANGED, outcome: 'success', userRef: `authy:${user.id}`, ip: c.ip, userAgent: c.userAgent });
    return { body: { message: 'Phone number changed.', user: { id: user.id, country_code: Number(phone.countryCode), phone_number: maskForStatus(phone.national) } } };
  };
}
