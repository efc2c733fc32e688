import type { ChallengeRow, EntityRow, FactorRow, TotpConfig } from './factor-store.js';
import { isoDate } from './resources.js';
import type { PushConfig } from './push-store.js';

/** The Entity as Verify answers it. */
export function entityResource(e: EntityRow, accountSid: string, base: string): Record<string, unknown> {
  const url = `${base}/v2/Services/${e.service_sid}/Entities/${encodeURIComponent(e.identity)}`;
  return {
    sid: e.sid,
    identity: e.identity,
    account_sid: accountSid,
    service_sid: e.service_sid,
    date_created: isoDate(e.created_at),
    date_updated: isoDate(e.updated_at),
    url,
    links: { factors: `${url}/Factors`, new_factors: `${url}/Factors`, challenges: `${url}/Challenges` },
  };
}

/** The Factor as Verify answers it; `binding` only in the answer that creates it (the secret is shown once). */
export function factorResource(f: FactorRow, e: EntityRow, accountSid: string, base: string, binding?: { secret: string; uri: string }): Record<string, unknown> {
  const c = JSON.parse(f.config) as TotpConfig & PushConfig;
  return {
    sid: f.sid,
    account_sid: accountSid,
    service_sid: e.service_sid,
    entity_sid: e.sid,
    identity: e.identity,
    ...(binding ? { binding, options: null } : {}),
    date_created: isoDate(f.created_at),
    date_updated: isoDate(f.updated_at),
    friendly_name: f.friendly_name,
    status: f.status,
    factor_type: f.factor_type,
    config:
      f.factor_type === 'push'
        ? { sdk_version: c.sdk_version, app_id: c.app_id, notification_platform: c.notification_platform, notification_token: c.notification_token }
        : { alg: c.alg, skew: c.skew, code_length: c.code_length, time_step: c.time_step },
    metadata: f.metadata === null ? null : (JSON.parse(f.metadata) as unknown),
    url: `${base}/v2/Services/${e.service_sid}/Entities/${encodeURIComponent(e.identity)}/Factors/${f.sid}`,
  };
}

/** The Challenge as Verify answers it. */
export function challengeResource(ch: ChallengeRow, f: FactorRow, e: EntityRow, accountSid: string, base: string): Record<string, unknown> {
  const url = `${base}/v2/Services/${e.service_sid}/Entities/${encodeURIComponent(e.identity)}/Challenges/${ch.sid}`;
  return {
    sid: ch.sid,
    account_sid: accountSid,
    service_sid: e.service_sid,
    entity_sid: e.sid,
    identity: e.identity,
    factor_sid: f.sid,
    date_created: isoDate(ch.created_at),
    date_updated: isoDate(ch.updated_at),
    date_responded: ch.responded_at === null ? null : isoDate(ch.responded_at),
    expiration_date: isoDate(ch.expires_at),
    status: ch.status,
    responded_reason: ch.responded_reason,
    details: JSON.parse(ch.details) as unknown,
    hidden_details: ch.hidden_details === null ? null : (JSON.parse(ch.hidden_details) as unknown),
    metadata: ch.metadata === null ? null : (JSON.parse(ch.metadata) as unknown),
    factor_type: f.factor_type,
    url,
    links: { notifications: `${url}/Notifications` },
  };
}
