import { isIP } from 'node:net';
import express, { Router, type Request, type RequestHandler } from 'express';
import * as z from 'zod';
import type { Logger } from '../../platform/logger.js';
import { constantTimeEqual } from '../../platform/crypto.js';
import { parsePhoneNumberFromString } from '../../platform/phone-numbers.js';
import { AuthyError } from '../authy-errors.js';
import { hashApiKey } from '../authy-http.js';
import { authenticationError, channelDisabled, invalidParameter, maxCheckAttempts, maxSendAttempts, notFound, TwilioError, twilioErrorHandler } from './errors.js';
import { checkResource, messageName, param, requiredParam, type ServiceRow, verificationResource } from './resources.js';
import { clientNetwork } from '../../platform/client-network.js';
import type { V2Context } from './context.js';
import { serviceRoutes } from './services.js';
import { factorRoutes } from './factor-routes.js';
import { webhookRoutes } from './webhooks.js';
import { pushDeviceRoutes } from './push-routes.js';
import { accessTokenRoutes } from './access-tokens.js';
import type { CheckOutcome } from './verifications.js';

/** HTTP Basic with the app's Account SID as user and its API key as password; 401 20003 otherwise. */
function basicAuth(c: V2Context): RequestHandler {
  return async (req, _res, next) => {
    const h = req.headers.authorization;
    if (!h || !/^basic [A-Za-z0-9+/=]{1,512}$/i.test(h)) return next(authenticationError());
    const decoded = Buffer.from(h.slice(6), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    const user = decoded.slice(0, i);
    const key = decoded.slice(i + 1);
    if (i < 0 || !/^AC[0-9a-f]{32}$/.test(user) || key.length === 0 || key.length > 128) return next(authenticationError());
    const app = await c.findApp(hashApiKey(key));
    if (!app || !constantTimeEqual(app.accountSid, user)) return next(authenticationError());
    req.v2App = app;
    next();
  };
}

const UNSUPPORTED_CHANNELS = new Set(['call', 'whatsapp', 'sna', 'auto', 'rbm']);
const emailAddress = z.email();

/** `To` as the channel needs it: an E.164 mobile number (sms) or an address (email). */
function destination(req: Request, channel: 'sms' | 'email'): { to: string; phone?: { e164: string; region: string } } {
  const raw = requiredParam(req, 'To', 320).trim();
  if (channel === 'email') {
    const to = raw.toLowerCase();
    if (to.length > 254 || !emailAddress.safeParse(to).success) throw invalidParameter('To', 'not an email address');
    return { to };
  }
  let parsed: ReturnType<typeof parsePhoneNumberFromString>;
  try {
    parsed = raw.startsWith('+') && raw.length <= 20 ? parsePhoneNumberFromString(raw) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!parsed?.isValid()) throw invalidParameter('To', 'not a phone number in E.164 format');
  return { to: parsed.number, phone: { e164: parsed.number, region: parsed.country ?? '' } };
}

/** `To` of a check as its verification stored it (an address lower-cased, a number in E.164), or undefined when it is neither. */
function checkedDestination(raw: string): string | undefined {
  const t = raw.trim();
  if (t.length > 320) return undefined;
  if (t.includes('@')) return emailAddress.safeParse(t.toLowerCase()).success ? t.toLowerCase() : undefined;
  try {
    const p = t.startsWith('+') && t.length <= 20 ? parsePhoneNumberFromString(t) : undefined;
    return p?.isValid() ? p.number : undefined;
  } catch {
    return undefined;
  }
}

/** The message that carries a code, in the service's name (or the request's CustomFriendlyName). */
function codeText(name: string, code: string, warn: boolean): string {
  return `Your ${name} verification code is: ${code}${warn ? "\nDon't share this code with anyone; our employees will never ask for the code." : ''}`;
}

/** The SMS gate's refusals as Verify words them. */
function fromGate(e: unknown): unknown {
  if (!(e instanceof AuthyError)) return e;
  if (e.status === 429) return maxSendAttempts(Number(e.extra.headers?.['Retry-After'] ?? 0) || undefined);
  if (e.status === 400) return invalidParameter('To', e.message);
  return new TwilioError(503, 60008, 'Unable to send the verification code right now', { reason: e.message });
}

function verificationRoutes(c: V2Context): Router {
  const r = Router();
  const app = (req: Request) => req.v2App!;
  const service = (req: Request, path: string): Promise<ServiceRow> => c.services.ofRequest(req, path);

  r.post('/Services/:sid/Verifications', async (req, res) => {
    const s = await service(req, '/Verifications');
    const channel = requiredParam(req, 'Channel', 16).toLowerCase();
    if (UNSUPPORTED_CHANNELS.has(channel)) throw channelDisabled(channel);
    if (channel !== 'sms' && channel !== 'email') throw invalidParameter('Channel', 'sms or email');
    if (param(req, 'CustomCode') !== undefined) throw invalidParameter('CustomCode', 'custom codes are not enabled for this service');
    const locale = param(req, 'Locale');
    if (locale !== undefined && !/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,4})?$/.test(locale)) throw invalidParameter('Locale');
    const customRaw = param(req, 'CustomFriendlyName');
    const custom = customRaw === undefined ? undefined : messageName(customRaw, 'CustomFriendlyName');
    const { to, phone } = destination(req, channel);
    const deviceIp = param(req, 'DeviceIp');
    const sends = await c.sendLimit.consume(`${s.sid}:${to}`);
    if (!sends.allowed) throw maxSendAttempts(sends.retryAfterSeconds);
    // Per end user when the app says who (an IPv6 address counted by its /64), else per app.
    const caller = deviceIp && isIP(deviceIp) ? `${app(req).id}/${clientNetwork(deviceIp)}` : `app:${app(req).id}`;
    if (phone) await c.gate.admit(phone, caller, 'verification').catch((e: unknown) => Promise.reject(fromGate(e)));
    else {
      // An address gets so many codes an hour whichever services or apps send them.
      const mails = await c.emailLimit.consume(to);
      if (!mails.allowed) throw maxSendAttempts(mails.retryAfterSeconds);
    }
    const { row, code } = await c.verifications.start(s, to, channel, locale ?? null);
    const text = codeText(custom ?? s.friendly_name, code, s.do_not_share_warning_enabled === 1);
    if (phone) await c.gate.deliver(phone.e164, text).catch((e: unknown) => Promise.reject(fromGate(e)));
    else c.mail.post({ to, subject: `Your ${custom ?? s.friendly_name} verification code`, text, html: `<p>${text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/\n/g, '<br>')}</p>` });
    const after = await c.verifications.recordSend(row, channel);
    res.status(201).json(verificationResource(after, app(req).accountSid, c.baseUrl()));
  });

  r.get('/Services/:sid/Verifications/:vsid', async (req, res) => {
    const s = await service(req, '/Verifications');
    const v = await c.verifications.get(s.sid, String(req.params.vsid));
    if (!v) throw notFound(`/Services/${s.sid}/Verifications/${String(req.params.vsid)}`);
    res.json(verificationResource(v, app(req).accountSid, c.baseUrl()));
  });

  // Update: a pending verification is canceled, or approved by the app itself.
  r.post('/Services/:sid/Verifications/:vsid', async (req, res) => {
    const s = await service(req, '/Verifications');
    const status = requiredParam(req, 'Status', 16);
    if (status !== 'canceled' && status !== 'approved') throw invalidParameter('Status', 'canceled or approved');
    const v = await c.verifications.get(s.sid, String(req.params.vsid));
    const after = v ? await c.verifications.setStatus(v.sid, status) : undefined;
    if (!after) throw notFound(`/Services/${s.sid}/Verifications/${String(req.params.vsid)}`);
    res.json(verificationResource(after, app(req).accountSid, c.baseUrl()));
  });

  r.post('/Services/:sid/VerificationCheck', async (req, res) => {
    const s = await service(req, '/VerificationCheck');
    const code = requiredParam(req, 'Code', 32).trim();
    const to = param(req, 'To');
    const vsid = param(req, 'VerificationSid');
    if (to === undefined && vsid === undefined) throw invalidParameter('To', "either a 'To' or a 'VerificationSid' must be given");
    let target;
    if (vsid !== undefined) target = await c.verifications.get(s.sid, vsid);
    else {
      const dest = checkedDestination(to!);
      target = dest === undefined ? undefined : await c.verifications.current(s.sid, dest);
    }
    const outcome: CheckOutcome = target ? await c.verifications.check(target, code) : { kind: 'none' };
    if (outcome.kind === 'max_attempts') throw maxCheckAttempts();
    if (outcome.kind === 'none') throw notFound(`/Services/${s.sid}/VerificationCheck`);
    res.json(checkResource(outcome.row, app(req).accountSid));
  });

  return r;
}

/** `/v2`: the Verify v2-compatible API (docs/verify-v2.md). */
export function verifyV2Router(c: V2Context, production: boolean): Router {
  const r = Router();
  // A device's requests (an access token, or a push factor's signature) never reach the app's routes.
  r.use(pushDeviceRoutes(c));
  r.use(basicAuth(c));
  // Twilio's clients send forms; repeated keys are refused by `param`.
  r.use(express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 50 }));
  r.use(serviceRoutes(c));
  r.use(verificationRoutes(c));
  r.use(factorRoutes(c));
  r.use(accessTokenRoutes(c));
  r.use(webhookRoutes(c, production));
  r.use((req, _res, next) => next(notFound(req.path)));
  r.use(twilioErrorHandler(c.logger));
  return r;
}
