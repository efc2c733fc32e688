import type { Generated } from 'kysely';
import type { Platform } from '../platform/context.js';
import type { PlatformTables } from '../platform/schema.js';

/** Tables for approval requests, devices and callbacks. Timestamps are ms since the epoch. */
export interface OneTouchTables {
  approval_requests: {
    seq: Generated<number>;
    uuid: string;
    app_id: number;
    user_id: number;
    message: string;
    /** JSON object of strings. */
    details: string;
    /** JSON object of strings, never shown to devices. */
    hidden_details: string;
    /** JSON array of `{res,url}` or null. */
    logos: string | null;
    status: 'pending' | 'approved' | 'denied' | 'expired';
    /** Two-digit matching number, null without number matching. */
    number: string | null;
    number_attempts: Generated<number>;
    seconds_to_expire: number;
    created_at: number;
    updated_at: number;
    /** Null = never expires. */
    expires_at: number | null;
    processed_at: number | null;
    device_id: string | null;
    device_signature: string | null;
  };
  devices: {
    id: string;
    user_id: number;
    name: string;
    /** JSON of the EC P-256 public JWK `{kty,crv,x,y}`. */
    public_key: string;
    created_at: number;
    last_seen_at: number | null;
    revoked_at: number | null;
  };
  device_activations: {
    /** SHA-256 hex of the activation token. */
    token_hash: string;
    user_id: number;
    name: string | null;
    created_at: number;
    expires_at: number;
    consumed_at: number | null;
    device_id: string | null;
  };
  device_nonces: {
    device_id: string;
    nonce: string;
    seen_at: number;
  };
  callback_outbox: {
    id: Generated<number>;
    /** What the row delivers, once: the approval request's uuid, or a Verify v2 event's id. */
    approval_uuid: string;
    /** `authy`: the OneTouch callback (JSON, X-Authy-Signature); `twilio`: a Verify v2 webhook (form, X-Twilio-Signature). */
    format: Generated<'authy' | 'twilio'>;
    app_id: number;
    url: string;
    /** The JSON body exactly as it is sent. */
    body: string;
    attempts: Generated<number>;
    created_at: number;
    next_attempt_at: number;
    lease_until: number | null;
    delivered_at: number | null;
    gave_up_at: number | null;
    last_error: string | null;
  };
  app_signing_keys: {
    app_id: number;
    sealed_key: string;
    updated_at: number;
  };
  push_subscriptions: {
    device_id: string;
    user_id: number;
    /** SecretBox-sealed JSON `{endpoint, keys: {p256dh, auth}}` (AD push_subscriptions/subscription/<device_id>). */
    sealed: string;
    created_at: number;
    updated_at: number;
  };
}

/**
 * The database as OneTouch sees it: its own tables and the platform's. What it needs of the core's
 * (users, apps, TOTP secrets) it asks through `ports.ts`.
 */
export interface OneTouchDatabase extends OneTouchTables, PlatformTables {}

/** The platform as OneTouch's modules receive it. */
export type OneTouchPlatform = Platform<OneTouchDatabase>;
