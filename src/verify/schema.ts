import type { Generated } from 'kysely';
import type { Platform } from '../platform/context.js';
import type { PlatformTables } from '../platform/schema.js';

/** Tables owned by the verification service. Timestamps are milliseconds since the epoch. */
export interface VerifyTables {
  apps: {
    id: Generated<number>;
    name: string;
    api_key_hash: string;
    callback_url: string | null;
    builtin: number;
    created_at: number;
    /** `AC` + 32 hex: the app's user name in the Verify v2-compatible API (HTTP Basic, with the API key). */
    account_sid: string;
  };
  /** A Verify v2 Service (`VA…`): its name and code settings, owned by one app. */
  verify_v2_services: {
    sid: string;
    app_id: number;
    friendly_name: string;
    code_length: number;
    do_not_share_warning_enabled: number;
    skip_sms_to_landlines: number;
    lookup_enabled: number;
    created_at: number;
    updated_at: number;
  };
  /** A Verify v2 Verification (`VE…`): one code sent to `to`, checked at most 5 times, 10 minutes. */
  verify_v2_verifications: {
    sid: string;
    service_sid: string;
    /** E.164 (sms) or a lower-cased address (email). */
    to: string;
    channel: 'sms' | 'email';
    status: 'pending' | 'approved' | 'canceled' | 'max_attempts_reached' | 'expired';
    /** SecretBox-sealed code (it is sent again on a resend), AD = verify_v2_verifications/sealed_code/<sid>. */
    sealed_code: string;
    check_attempts: Generated<number>;
    /** JSON array of the sends: `{ attempt_sid, channel, time }`. */
    sends: string;
    locale: string | null;
    created_at: number;
    updated_at: number;
    expires_at: number;
  };
  /** A Verify v2 Entity (`YE…`): one user of an app, named by the app's `identity`. */
  verify_v2_entities: {
    sid: string;
    service_sid: string;
    identity: string;
    created_at: number;
    updated_at: number;
  };
  /** A Verify v2 Factor (`YF…`): a TOTP secret or a device's key (push), `unverified` until first proved. */
  verify_v2_factors: {
    sid: string;
    entity_sid: string;
    friendly_name: string;
    factor_type: 'totp' | 'push';
    status: 'unverified' | 'verified';
    /** SecretBox-sealed secret bytes, AD = verify_v2_factors/sealed_secret/<sid>. */
    sealed_secret: string;
    /** JSON `{ time_step, skew, code_length, alg }`. */
    config: string;
    metadata: string | null;
    /** The newest time step accepted (each step once). */
    last_step: Generated<number>;
    /** push: base64 SPKI DER of the device's P-256 public key (null for totp). */
    public_key: string | null;
    created_at: number;
    updated_at: number;
  };
  /** A Verify v2 AccessToken (`YK…`): lets one device create one push factor for one identity; hashed, single use. */
  verify_v2_access_tokens: {
    sid: string;
    service_sid: string;
    identity: string;
    factor_type: 'push';
    factor_friendly_name: string | null;
    /** Hex SHA-256 of the token. */
    token_hash: string;
    ttl: number;
    expires_at: number;
    consumed_at: number | null;
    /** The factor it created. */
    factor_sid: string | null;
    created_at: number;
  };
  /** Nonces of push factors' signed requests (each once; kept 10 minutes). */
  /** The Web Push subscription of a push factor's device (sealed JSON), one per factor. */
  verify_v2_push_subscriptions: {
    factor_sid: string;
    sealed: string;
    created_at: number;
    updated_at: number;
  };
  verify_v2_push_nonces: {
    factor_sid: string;
    nonce: string;
    seen_at: number;
  };
  /** A Verify v2 Challenge (`YC…`) of a factor: pending until a code approves it or it expires. */
  verify_v2_challenges: {
    sid: string;
    factor_sid: string;
    status: 'pending' | 'approved' | 'denied' | 'expired';
    responded_reason: 'none' | 'not_needed' | 'not_requested';
    /** JSON `{ message, fields: [{label, value}], date }`. */
    details: string;
    hidden_details: string | null;
    metadata: string | null;
    auth_attempts: Generated<number>;
    expires_at: number;
    responded_at: number | null;
    created_at: number;
    updated_at: number;
  };
  /** A Verify v2 Webhook (`YW…`): where a service's factor and challenge events are POSTed. */
  verify_v2_webhooks: {
    sid: string;
    service_sid: string;
    friendly_name: string;
    /** JSON array of event types, or `["*"]`. */
    event_types: string;
    webhook_url: string;
    status: 'enabled' | 'disabled';
    version: 'v1' | 'v2';
    created_at: number;
    updated_at: number;
  };
  verify_users: {
    id: Generated<number>;
    app_id: number;
    email: string;
    country_code: string;
    region: string;
    phone_e164: string;
    /**
     * Legacy: the one TOTP secret shared by every authenticator of a user enrolled before
     * migration 008 (SecretBox-sealed, AD = verify_users/totp_secret/<id>). Still verified while
     * non-null; never written by new code (only cleared).
     */
    totp_secret: string | null;
    /** Consecutive failed verifications (TOTP or SMS) since the last success; lockout counter. */
    failed_verifications: Generated<number>;
    /** Verifications are refused until this time (ms) after too many consecutive failures. */
    locked_until: number | null;
    created_at: number;
  };
  /** One TOTP secret per authenticator (a device, or a third-party app enrolment). */
  totp_secrets: {
    /** Random UUID. */
    id: string;
    user_id: number;
    kind: 'device' | 'app';
    /** The device whose secret this is (kind 'device'); unique. */
    device_id: string | null;
    label: string | null;
    /** SecretBox-sealed 20 random bytes, AD = totp_secrets/sealed/<id>. */
    sealed: string;
    /** An app secret is 'pending' until a code of it is verified; device secrets are born active. */
    state: 'pending' | 'active';
    created_at: number;
    confirmed_at: number | null;
    last_used_at: number | null;
  };
  totp_used_steps: {
    user_id: number;
    step: number;
    used_at: number;
  };
  /** At most one row per user (unique index): the current SMS challenge. */
  sms_codes: ChallengeColumns & {
    id: Generated<number>;
    user_id: number;
  };
  /** At most one row per app and phone (unique index): the current phone verification. */
  phone_verifications: ChallengeColumns & {
    uuid: string;
    app_id: number;
    phone_e164: string;
  };
}

/** A hashed one-time code and its budget (`core/challenges.ts` serves both tables that have them). */
export interface ChallengeColumns {
  code_hash: string;
  attempts: Generated<number>;
  max_attempts: number;
  created_at: number;
  expires_at: number;
  consumed_at: number | null;
}

/** The database as the service's core sees it: its own tables and the platform's. */
export interface CoreDatabase extends VerifyTables, PlatformTables {}

/** The platform as the core's modules receive it. */
export type CorePlatform = Platform<CoreDatabase>;
