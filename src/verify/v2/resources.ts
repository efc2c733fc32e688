import { randomBytes } from 'node:crypto';
import type { Request } from 'express';
import type { Selectable } from 'kysely';
import type { VerifyTables } from '../schema.js';
import { invalidParameter } from './errors.js';

export type ServiceRow = Selectable<VerifyTables['verify_v2_services']>;
export type VerificationRow = Selectable<VerifyTables['verify_v2_verifications']>;

/** A Twilio SID: two letters and 32 lower-case hex digits. */
export const newSid = (prefix: 'VA' | 'VE' | 'VL' | 'YE' | 'YF' | 'YC' | 'YW' | 'YK'): string => `${prefix}${randomBytes(16).toString('hex')}`;
export const sidPattern = (prefix: string) => new RegExp(`^${prefix}[0-9a-f]{32}$`);

/** ISO 8601 in UTC to the second, as Verify writes its dates. */
export const isoDate = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

// ---- Parameters (form bodies; a repeated key is refused) ----

/** A name shown to people (a factor's, a webhook's): 1 to 64 characters, no control or format characters (PostgreSQL refuses NUL). */
export function plainName(v: string, name: string): string {
  const t = v.trim();
  if (t.length === 0 || t.length > 64 || /[\p{Cc}\p{Cf}]/u.test(t)) throw invalidParameter(name, '1 to 64 characters, without control characters');
  return t;
}

/**
 * The name a code's message goes out in: at most 30 letters, digits, spaces, dashes,
 * underscores, apostrophes and dots, and at most 4 digits of any script (a name must not pass for
 * a code or a phone number).
 */
export function messageName(v: string, name: string): string {
  const t = v.trim();
  if (t.length === 0 || t.length > 30) throw invalidParameter(name, '1 to 30 characters');
  if (!/^[\p{L}\p{N} ._'-]+$/u.test(t)) throw invalidParameter(name, 'letters, digits, spaces, dashes, underscores and dots only');
  if ((t.match(/\p{N}/gu) ?? []).length > 4) throw invalidParameter(name, 'at most 4 digits');
  return t;
}

/** A parameter given once, or undefined. */
export function param(req: Request, name: string): string | undefined {
  const body = (req.body ?? {}) as Record<string, unknown>;
  const v = Object.hasOwn(body, name) ? body[name] : (req.query as Record<string, unknown>)[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalidParameter(name, 'given more than once');
  return v;
}

export function requiredParam(req: Request, name: string, max = 256): string {
  const v = param(req, name);
  if (v === undefined || v.trim() === '') throw invalidParameter(name, 'is required');
  if (v.length > max) throw invalidParameter(name, `at most ${max} characters`);
  return v;
}

/** "true" or "false" (Twilio's booleans), or undefined. */
export function boolParam(req: Request, name: string): boolean | undefined {
  const v = param(req, name);
  if (v === undefined) return undefined;
  if (v === 'true' || v === 'True') return true;
  if (v === 'false' || v === 'False') return false;
  throw invalidParameter(name, 'must be true or false');
}

export function intParam(req: Request, name: string, min: number, max: number): number | undefined {
  const v = param(req, name);
  if (v === undefined) return undefined;
  if (!/^\d{1,6}$/.test(v) || Number(v) < min || Number(v) > max) throw invalidParameter(name, `must be a whole number from ${min} to ${max}`);
  return Number(v);
}

// ---- Lists as Verify pages them ----

/** `PageSize` (1–1000, 50) and `Page` (from 0) of a list request. */
export function pageOf(req: Request): { page: number; size: number } {
  return { size: intParam(req, 'PageSize', 1, 1000) ?? 50, page: intParam(req, 'Page', 0, 100_000) ?? 0 };
}

/** One page of a list: `rows` is the page as read with one row more (its presence says a next page exists). */
export function listPage<T>(key: string, rows: T[], p: { page: number; size: number }, url: (page: number) => string, render: (row: T) => unknown): Record<string, unknown> {
  return {
    [key]: rows.slice(0, p.size).map(render),
    meta: { page: p.page, page_size: p.size, first_page_url: url(0), previous_page_url: p.page > 0 ? url(p.page - 1) : null, url: url(p.page), next_page_url: rows.length > p.size ? url(p.page + 1) : null, key },
  };
}

/** A list that is short by nature (an entity's factors and challenges, a service's webhooks), in one page. */
export function onePage(key: string, items: unknown[], url: string): Record<string, unknown> {
  return { [key]: items, meta: { page: 0, page_size: Math.max(items.length, 1), first_page_url: url, previous_page_url: null, url, next_page_url: null, key } };
}

// ---- Resources as Verify answers them ----

export function serviceResource(s: ServiceRow, accountSid: string, base: string): Record<string, unknown> {
  const url = `${base}/v2/Services/${s.sid}`;
  return {
    sid: s.sid,
    account_sid: accountSid,
    friendly_name: s.friendly_name,
    code_length: s.code_length,
    lookup_enabled: s.lookup_enabled === 1,
    psd2_enabled: false,
    skip_sms_to_landlines: s.skip_sms_to_landlines === 1,
    dtmf_input_required: false,
    tts_name: null,
    do_not_share_warning_enabled: s.do_not_share_warning_enabled === 1,
    custom_code_enabled: false,
    push: { include_date: false, apn_credential_sid: null, fcm_credential_sid: null },
    totp: { issuer: s.friendly_name, time_step: 30, code_length: 6, skew: 1 },
    default_template_sid: null,
    whatsapp: { msg_service_sid: null, from: null },
    passkeys: null,
    verify_event_subscription_enabled: false,
    date_created: isoDate(s.created_at),
    date_updated: isoDate(s.updated_at),
    url,
    links: { verifications: `${url}/Verifications`, verification_checks: `${url}/VerificationCheck` },
  };
}

/** What a Verification and a VerificationCheck both say of a verification. */
function verificationFields(v: VerificationRow, accountSid: string) {
  return {
    sid: v.sid,
    service_sid: v.service_sid,
    account_sid: accountSid,
    to: v.to,
    channel: v.channel,
    status: v.status,
    valid: v.status === 'approved',
    amount: null,
    payee: null,
    date_created: isoDate(v.created_at),
    date_updated: isoDate(v.updated_at),
  };
}

export function verificationResource(v: VerificationRow, accountSid: string, base: string): Record<string, unknown> {
  return {
    ...verificationFields(v, accountSid),
    lookup: { carrier: null },
    send_code_attempts: JSON.parse(v.sends) as unknown[],
    sna: null,
    url: `${base}/v2/Services/${v.service_sid}/Verifications/${v.sid}`,
  };
}

export function checkResource(v: VerificationRow, accountSid: string): Record<string, unknown> {
  return { ...verificationFields(v, accountSid), sna_attempts_error_codes: [] };
}
