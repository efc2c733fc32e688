import { clientNetwork } from '../../platform/client-network.js';
import { Router } from 'express';
import type { Logger } from '../../platform/logger.js';
import { mountOps, type ApiAnswer, type ApiCall, type ApiRoute } from '../api.js';
import { isIP } from 'node:net';
import { qrCodeDataUrl } from '../../platform/qr-code.js';
import { parsePhoneNumberWithTypes as parseWithTypes } from '../../platform/phone-numbers.js';
import type { CorePlatform } from '../schema.js';
import type { Limiter } from '../../platform/rate-limit.js';
import { AuditType } from '../../platform/audit.js';
import {
  authyBodyParsers,
  authyErrorHandler,
  isTruthy,
  param,
  paramObject,
  requireApiKey,
  type AppLookup,
  type ParamObject,
} from '../authy-http.js';
import { AuthyCode, AuthyError } from '../authy-errors.js';
import type { DeviceDirectory } from '../ports.js';
import type { AppStore } from './apps.js';
import { maskForSms, maskForStatus, parseCountryCode, parsePhone, splitE164, type Phone } from './phone.js';
import type { PhoneVerifications } from './phone-verification.js';
import type { SmsCodes } from './sms-codes.js';
import type { SmsGate } from './sms-gate.js';
import type { TotpSecrets } from './totp-secrets.js';
import { isValidEmail, type UserStore, type VerifyUser } from './users.js';
import type { TokenVerifier } from './verification.js';
import { changePhoneOp } from './user-phone.js';

export interface CoreRouteDeps {
  p: CorePlatform;
  apps: AppStore;
  appLookup: AppLookup;
  users: UserStore;
  totp: TotpSecrets;
  smsCodes: SmsCodes;
  phoneVerifications: PhoneVerifications;
  gate: SmsGate;
  verifier: TokenVerifier;
  devices: DeviceDirectory;
  /** Checks per app and phone (every check counts), against guessing across challenges. */
  phoneCheckLimiter: Limiter;
}

const SMS_IGNORED_MESSAGE = 'Ignored: SMS is not needed for smartphones. Pass force=true if you want to actually send it anyway.';
const CALL_IGNORED_MESSAGE = 'Ignored: Call is not needed for smartphones. Pass force=true if you want to actually call anyway.';
const QR_DEFAULT_SIZE = 300;

const PREFIX = '/protected/json';

/** The Authy-compatible `/protected/json/...` API, except OneTouch, as operations (`../api.ts`). */
export function coreApi(d: CoreRouteDeps): ApiRoute[] {
  const { p } = d;
  const ops: ApiRoute[] = [];
  const op = (method: ApiRoute['method'], path: string, fn: ApiRoute['op']) => ops.push({ method, path: `${PREFIX}${path}`, format: 'authy', op: fn });

  op('POST', '/users/new', async (c) => {
    const app = c.app;
    const params = c.params;
    const user = paramObject(params, 'user') ?? {};
    const pick = (k: string) => param(user, k) ?? param(params, `user[${k}]`) ?? param(params, k);
    const email = pick('email')?.trim();
    const phone = parsePhone(pick('cellphone'), pick('country_code'));
    const errors: Record<string, string> = {};
    if (!isValidEmail(email)) errors['email'] = 'is invalid';
    if (!phone) errors['cellphone'] = 'is invalid';
    if (!isValidEmail(email) || !phone) {
      throw new AuthyError(400, AuthyCode.USER_NOT_VALID, 'User was not valid', { errors, reason: `invalid ${Object.keys(errors).join(', ')}` });
    }
    const id = await d.users.register(app.id, email.toLowerCase(), phone);
    return { body: { message: 'User created successfully.', user: { id } } };
  });

  const remove = async (c: ApiCall): Promise<ApiAnswer> => {
    const user = await requireUser(d, c);
    if (!(await d.users.remove(user.appId, user.id))) throw userNotFound();
    return { body: { message: 'User was added to remove.' } };
  };
  op('POST', '/users/:id/remove', remove);
  op('POST', '/users/delete/:id', remove);
  op('POST', '/users/:id/delete', remove);

  op('GET', '/users/:id/status', async (c) => {
    const user = await requireUser(d, c);
    const devices = await d.devices.activeDevices(user.id);
    const { national } = splitE164(user.phoneE164);
    return { body: {
      message: 'User status.',
      status: {
        authy_id: user.id,
        confirmed: true,
        registered: devices.length > 0,
        country_code: Number(user.countryCode),
        phone_number: maskForStatus(national),
        devices: devices.map((x) => x.name),
        has_hard_token: false,
      },
    } };
  });

  op('POST', '/users/:id/secret', async (c) => {
    const user = await requireUser(d, c);
    const params = c.params;
    const label = optionalText(params, 'label', 100);
    const qrSize = optionalInt(params, 'qr_size', 100, 1000) ?? QR_DEFAULT_SIZE;
    // A new secret at every call, pending until one of its codes is verified (then it replaces
    // the user's older app secret); `id` is a Twofold extension (docs/authy-compat.md).
    const { id, parameters: t } = await d.totp.createForApp(user.id, label, meta(c));
    const qr = await qrCodeDataUrl(t.uri, { width: qrSize, margin: 2, errorCorrectionLevel: 'M' });
    return { body: { id, label: t.label, issuer: t.issuer, uri: t.uri, qr_code: qr } };
  });

  op('GET', '/sms/:id', async (c) => {
    const app = c.app;
    const user = await requireUser(d, c);
    const params = c.params;
    const action = optionalText(params, 'action', 255);
    const actionMessage = optionalText(params, 'action_message', 255);
    const { countryCode, national } = splitE164(user.phoneE164);
    const cellphone = maskForSms(countryCode, national);
    const devices = await d.devices.activeDevices(user.id);
    if (devices.length > 0 && !isTruthy(param(params, 'force'))) {
      return { body: { message: SMS_IGNORED_MESSAGE, cellphone, device: devices[0]!.name, ignored: true } };
    }
    await d.gate.admit({ e164: user.phoneE164, region: user.region }, smsIpKey(c), 'user');
    const issued = await d.smsCodes.issue(user.id, p.clock.now());
    if (!issued.ok) {
      throw new AuthyError(429, AuthyCode.TOO_MANY_REQUESTS, 'Too many failed attempts for this code, try again later', {
        reason: 'SMS challenge attempt budget exhausted',
      });
    }
    const context = actionMessage ?? action;
    await d.gate.deliver(user.phoneE164, `Your ${app.name} verification code is ${issued.code}.${context ? ` ${context}` : ''}`);
    await p.audit.record({
      type: AuditType.SECOND_FACTOR_SENT,
      outcome: 'info',
      userRef: `authy:${user.id}`,
      ...meta(c),
      detail: { kind: 'sms', transport: d.gate.transport.name },
    });
    return { body: { message: 'SMS token was sent', cellphone } };
  });

  op('GET', '/call/:id', async (c) => {
    const user = await requireUser(d, c);
    const { countryCode, national } = splitE164(user.phoneE164);
    const devices = await d.devices.activeDevices(user.id);
    if (devices.length > 0 && !isTruthy(param(c.params, 'force'))) {
      return { body: { message: CALL_IGNORED_MESSAGE, cellphone: maskForSms(countryCode, national), device: devices[0]!.name, ignored: true } };
    }
    throw callsUnavailable();
  });

  op('GET', '/verify/:token/:id', async (c) => {
    const token = String(c.path['token'] ?? '');
    // Token format is checked before the user: a malformed token says nothing about the user.
    if (!/^\d{6,10}$/.test(token)) throw tokenInvalid('token format');
    const user = await requireUser(d, c);
    // Twofold extension: `pending=false` leaves out third-party app secrets not confirmed yet.
    const pending = param(c.params, 'pending');
    const outcome = await d.verifier.verify(user, token, meta(c), { includePending: pending === undefined || isTruthy(pending) });
    if (!outcome.ok) {
      if (outcome.reason === 'reused') {
        throw new AuthyError(401, AuthyCode.TOKEN_REUSED, 'Token is invalid. Token was used recently.', {
          body: { token: 'is invalid' },
          reason: 'token reused',
        });
      }
      // A locked account answers exactly like a wrong code (the log keeps the difference).
      throw tokenInvalid(outcome.reason === 'locked' ? 'second factor locked' : 'wrong token');
    }
    return { body: {
      message: 'Token is valid.',
      token: 'is valid',
      success: 'true',
      // Twofold extensions (docs/authy-compat.md): which factor matched. `id` is the device whose
      // own secret matched; `enrolled` is true when this code confirmed a new third-party app.
      device: {
        id: outcome.deviceId,
        kind: outcome.kind,
        factor: outcome.factor,
        factor_id: outcome.factorId,
        enrolled: outcome.enrolled,
        os_type: outcome.kind === 'sms' ? 'sms' : 'authenticator',
        registration_date: null,
        last_sync_date: null,
      },
    } };
  });

  op('POST', '/phones/verification/start', async (c) => {
    const app = c.app;
    const params = c.params;
    const via = (param(params, 'via') ?? 'sms').toLowerCase();
    if (via !== 'sms' && via !== 'call') throw invalidParameter('via');
    const codeLength = optionalInt(params, 'code_length', 4, 10) ?? 4;
    const locale = param(params, 'locale');
    if (locale !== undefined && !/^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$/.test(locale)) throw invalidParameter('locale');
    const phone = requirePhone(params);
    if (via === 'call') throw callsUnavailable();
    await d.gate.admit(phone, smsIpKey(c), 'verification');
    const now = p.clock.now();
    const started = await d.phoneVerifications.start(app.id, phone.e164, codeLength, now);
    if (!started.ok) {
      throw new AuthyError(429, AuthyCode.TOO_MANY_REQUESTS, 'Too many failed attempts for this code, try again later', {
        reason: 'phone verification attempt budget exhausted',
      });
    }
    await d.gate.deliver(phone.e164, `Your ${app.name} verification code is: ${started.code}`);
    const typed = parseWithTypes(phone.e164);
    const type = typed?.getType();
    return { body: {
      carrier: null,
      is_cellphone: type === 'MOBILE' || type === 'FIXED_LINE_OR_MOBILE',
      is_ported: false,
      message: `Text message sent to ${typed?.formatInternational() ?? phone.e164}.`,
      seconds_to_expire: Math.max(0, Math.floor((started.expiresAt - now) / 1000) - 1),
      uuid: started.uuid,
    } };
  });

  op('GET', '/phones/verification/check', async (c) => {
    const app = c.app;
    const params = c.params;
    const phone = requirePhone(params);
    const code = param(params, 'verification_code');
    const pretty = parseWithTypes(phone.e164)?.formatInternational() ?? phone.e164;
    const wrong = () => new AuthyError(401, AuthyCode.WRONG_VERIFICATION_CODE, 'Verification code is incorrect', { reason: 'wrong code' });
    if (code === undefined || !/^\d{4,10}$/.test(code)) throw wrong();
    // Each challenge has its own attempt budget, but a 4-digit code could still be guessed over
    // many challenges: every check of this phone counts here, before comparing.
    const limit = await d.phoneCheckLimiter.consume(`${app.id}:${phone.e164}`);
    if (!limit.allowed) {
      throw new AuthyError(429, AuthyCode.TOO_MANY_REQUESTS, 'Too many requests, try again later', {
        reason: 'phone verification check cap',
        headers: { 'Retry-After': String(limit.retryAfterSeconds) },
      });
    }
    const outcome = await d.phoneVerifications.check(app.id, phone.e164, code, p.clock.now());
    if (outcome === 'none') {
      throw new AuthyError(404, AuthyCode.NO_PENDING_VERIFICATION, `No pending verifications for ${pretty} found.`, { reason: 'none pending' });
    }
    if (outcome === 'wrong') throw wrong();
    return { body: { message: 'Verification code is correct.' } };
  });

  op('POST', '/users/:id/phone', changePhoneOp(d, (c) => requireUser(d, c)));

  op('GET', '/app/details', async (c) => {
    const app = c.app;
    return { body: {
      app: { app_id: app.id, name: app.name, plan: 'twofold', sms_enabled: true, phone_calls_enabled: false, onetouch_enabled: true },
      message: 'Application information.',
    } };
  });

  return ops;
}

/** The HTTP binding of `coreApi`: parsers and key check for every path, then the operations. */
export function coreRouter(ops: ApiRoute[], appLookup: AppLookup, logger: Logger): Router {
  const r = Router();
  r.use(authyBodyParsers());
  r.use(requireApiKey(appLookup));
  mountOps(r, PREFIX, ops);
  r.use(() => {
    throw new AuthyError(404, AuthyCode.INVALID_REQUEST, 'Not found', { reason: 'no such endpoint' });
  });
  r.use(authyErrorHandler(logger));
  return r;
}

function userNotFound(): AuthyError {
  return new AuthyError(404, AuthyCode.USER_NOT_FOUND, 'User not found.', { reason: 'unknown user' });
}

function tokenInvalid(reason: string): AuthyError {
  return new AuthyError(401, AuthyCode.TOKEN_INVALID, 'Token is invalid', { body: { token: 'is invalid' }, reason });
}

function callsUnavailable(): AuthyError {
  return new AuthyError(503, AuthyCode.SERVICE_UNAVAILABLE, 'Phone calls are not available, request an SMS instead', {
    reason: 'no voice transport',
  });
}

function invalidParameter(name: string): AuthyError {
  return new AuthyError(400, AuthyCode.INVALID_PARAMETER, `Invalid parameter: ${name}`, { errors: { [name]: 'is invalid' } });
}

/** The user named by `:id`, owned by the calling app; anything else is "not found". */
async function requireUser(d: CoreRouteDeps, c: ApiCall): Promise<VerifyUser> {
  const raw = String(c.path['id'] ?? '');
  if (!/^\d{1,15}$/.test(raw)) throw userNotFound();
  const user = await d.users.find(c.app.id, Number(raw));
  if (!user) throw userNotFound();
  return user;
}

function requirePhone(params: ParamObject): Phone {
  const countryCode = param(params, 'country_code');
  const phone = parseCountryCode(countryCode) ? parsePhone(param(params, 'phone_number'), countryCode) : undefined;
  if (!phone) throw new AuthyError(400, AuthyCode.INVALID_PHONE, 'Phone number is invalid', { errors: { phone_number: 'is invalid' } });
  return phone;
}

function optionalText(params: ParamObject, name: string, max: number): string | undefined {
  if (params[name] === undefined) return undefined;
  const v = param(params, name);
  // Control characters would end up in an SMS or an authenticator's label.
  if (v === undefined || v.length === 0 || v.length > max || /[\u0000-\u001f\u007f]/.test(v)) throw invalidParameter(name);
  return v;
}

function optionalInt(params: ParamObject, name: string, min: number, max: number): number | undefined {
  if (params[name] === undefined) return undefined;
  const v = param(params, name);
  if (v === undefined || !/^\d{1,6}$/.test(v)) throw invalidParameter(name);
  const n = Number(v);
  if (n < min || n > max) throw invalidParameter(name);
  return n;
}

/**
 * The IP an SMS send is charged to: the end user's `user_ip` when the (authenticated) app passes
 * one, as Authy's clients can, else the caller's address (`req.ip`, TRUST_PROXY hops honoured).
 * Without it every send of a relying app would share the app server's single bucket.
 */
function smsIpKey(c: ApiCall): string {
  const caller = c.ip ?? 'unknown';
  const userIp = param(c.params, 'user_ip');
  // The end user's network (an IPv6 address counted by its /64, as every per-IP limit does).
  return userIp !== undefined && userIp.length <= 45 && isIP(userIp) ? `${c.app.id}/${clientNetwork(userIp)}` : caller;
}

function meta(c: ApiCall): { ip: string | null; userAgent: string | null } {
  return { ip: c.ip, userAgent: c.userAgent };
}
