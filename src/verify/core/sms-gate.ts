import { parsePhoneNumberWithTypes as parsePhoneNumberFromString } from '../../platform/phone-numbers.js';
import type { CorePlatform } from '../schema.js';
import { clientNetwork } from '../../platform/client-network.js';
import type { Limiter } from '../../platform/rate-limit.js';
import { AuthyCode, AuthyError } from '../authy-errors.js';
import { SmsDeliveryError, type SmsTransport } from './sms/index.js';

/** Send-rate windows are 10 minutes (SMS_PER_PHONE_LIMIT / SMS_PER_IP_LIMIT per window). */
export const SMS_WINDOW_SECONDS = 10 * 60;

/**
 * What a text is for. Phone verifications (anyone may ask for one: a signup proving a number) and
 * codes for a registered user (a login) are capped per phone in separate windows, so that
 * strangers verifying a number cannot use up the texts its owner needs to log in.
 */
export type SmsPurpose = 'user' | 'verification';

/**
 * Everything an outgoing SMS must pass: the country allow-list, the per-IP and per-phone send
 * caps (shared-store counters) and, last, the transport. Throws the Authy refusal to answer.
 */
export class SmsGate {
  private readonly perPhone: Record<SmsPurpose, Limiter>;
  private readonly perIp: Limiter;

  constructor(
    private readonly p: CorePlatform,
    readonly transport: SmsTransport,
  ) {
    this.perPhone = {
      user: p.limits.create({ name: 'sms:phone', points: p.config.SMS_PER_PHONE_LIMIT, durationSeconds: SMS_WINDOW_SECONDS }),
      verification: p.limits.create({ name: 'sms:phone:verification', points: p.config.SMS_PER_PHONE_LIMIT, durationSeconds: SMS_WINDOW_SECONDS }),
    };
    this.perIp = p.limits.create({ name: 'sms:ip', points: p.config.SMS_PER_IP_LIMIT, durationSeconds: SMS_WINDOW_SECONDS });
  }

  /** Refuse before any code is made when the destination or the caller may not receive one now. */
  async admit(to: { e164: string; region: string }, ip: string, purpose: SmsPurpose): Promise<void> {
    const refused = numberTypeRefusal(to.e164, this.p.config.SMS_NUMBER_TYPES);
    if (refused) {
      throw new AuthyError(400, AuthyCode.INVALID_PHONE, `This number cannot receive text messages: ${refused}`, {
        errors: { phone_number: refused },
        reason: `number type refused (${refused})`,
      });
    }
    const allow = this.p.config.SMS_COUNTRY_ALLOWLIST;
    if (allow.length > 0 && !allow.includes(to.region)) {
      throw new AuthyError(400, AuthyCode.INVALID_PHONE, 'SMS delivery to this country is not allowed', {
        reason: `country ${to.region || 'non-geographic'} not in SMS_COUNTRY_ALLOWLIST`,
      });
    }
    const ipOutcome = await this.perIp.consume(clientNetwork(ip));
    if (!ipOutcome.allowed) throw tooMany(ipOutcome.retryAfterSeconds, 'per-IP SMS cap');
    const phoneOutcome = await this.perPhone[purpose].consume(to.e164);
    if (!phoneOutcome.allowed) throw tooMany(phoneOutcome.retryAfterSeconds, 'per-phone SMS cap');
  }

  async deliver(to: string, body: string): Promise<void> {
    try {
      await this.transport.send({ to, body });
    } catch (e) {
      this.p.logger.warn({ err: e instanceof SmsDeliveryError ? e.message : String(e), transport: this.transport.name }, 'SMS delivery failed');
      throw new AuthyError(503, AuthyCode.SERVICE_UNAVAILABLE, 'SMS delivery failed, try again later', { reason: 'sms transport failure' });
    }
  }
}

const TYPE_WORDS: Record<string, string> = {
  FIXED_LINE: 'it is a landline',
  PREMIUM_RATE: 'it is a premium-rate number',
  SHARED_COST: 'it is a shared-cost number',
  TOLL_FREE: 'it is a toll-free number',
  VOIP: 'it is an internet (VoIP) number',
  PAGER: 'it is a pager number',
  PERSONAL_NUMBER: 'it is a personal (forwarding) number',
  UAN: 'it is a company number',
  VOICEMAIL: 'it is a voicemail number',
};

/**
 * Why `e164` may not receive an SMS under `allowed` (SMS_NUMBER_TYPES), in words, or null when
 * it may. The type comes from libphonenumber's full metadata; numbers of no country (satellite,
 * international premium services) need NON_GEOGRAPHIC, whatever their type.
 */
export function numberTypeRefusal(e164: string, allowed: readonly string[]): string | null {
  const parsed = parsePhoneNumberFromString(e164);
  if (!parsed) return 'it is not a valid phone number';
  if (!parsed.country && !allowed.includes('NON_GEOGRAPHIC')) return 'it belongs to no country (a satellite or international service number)';
  const type = parsed.getType() ?? 'UNKNOWN';
  if (allowed.includes(type)) return null;
  return TYPE_WORDS[type] ?? 'its type is unknown, so it may not be a mobile phone';
}

function tooMany(retryAfterSeconds: number, reason: string): AuthyError {
  return new AuthyError(429, AuthyCode.TOO_MANY_REQUESTS, 'Too many requests, try again later', {
    reason,
    headers: { 'Retry-After': String(retryAfterSeconds) },
  });
}
