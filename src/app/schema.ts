import type { Generated } from 'kysely';
import type { Platform } from '../platform/context.js';
import type { PlatformTables } from '../platform/schema.js';

/** Tables owned by the web app. Timestamps are milliseconds; booleans INTEGER 0/1. */
export interface AppTables {
  /** Email lower-cased and unique. */
  app_users: AccountDetails & {
    id: Generated<number>;
    /** The user's id at the verification service; null until registration succeeded. */
    authy_id: number | null;
    /**
     * No longer written or read: which third-party apps a user has is the service's to say
     * (`GET /v1/users/{id}/totp-apps`). Kept so that older rows and tools still fit.
     */
    totp_app_confirmed_at: number | null;
    created_at: number;
  };
  app_sessions: {
    /** SHA-256 (hex) of the 32-byte cookie token; the token itself is never stored. */
    token_hash: string;
    user_id: number;
    /** 'half' = password ok, second factor pending; 'full' = logged in. */
    state: 'half' | 'full';
    /** The login attempt a half session belongs to. */
    login_attempt_id: string | null;
    created_at: number;
    last_seen_at: number;
    /** Absolute end of life (created_at + SESSION_ABSOLUTE_SECONDS). */
    expires_at: number;
    /** When this session last proved the password and a second factor (login, signup, step-up). */
    reauth_at: number | null;
    /** The client address and User-Agent (at most 512 characters) that started it; null before they were kept. */
    ip: string | null;
    user_agent: string | null;
    /** The passkey this session was signed in with instead of the password (ended with it); null otherwise. */
    passkey_id: Generated<string | null>;
  };
  app_login_attempts: {
    /** 128-bit random, hex (also the event-bus channel suffix and the OneTouch hidden detail). */
    id: string;
    user_id: number;
    /** 'open' until completed ('done') or killed by too many wrong codes ('dead'). */
    state: 'open' | 'done' | 'dead';
    /** OneTouch request of this attempt (unique), its matching number and expiry. */
    approval_uuid: string | null;
    approval_number: string | null;
    approval_status: 'pending' | 'approved' | 'denied' | 'expired' | null;
    approval_expires_at: number | null;
    /** JSON of the details shown on the device (non-secret). */
    approval_details: string | null;
    /** Codes tried so far (reserved before each check, so a burst cannot exceed the budget). */
    code_tries: number;
    last_sms_at: number | null;
    /** What opened the attempt: the password, or a passkey that did not verify its user (never then its own second factor). */
    first_factor: Generated<'password' | 'passkey'>;
    created_at: number;
    /** The attempt (and its half session) dies after this. */
    expires_at: number;
  };
  /** A browser that completed a login to the account (its cookie token's SHA-256). */
  app_known_browsers: {
    user_id: number;
    browser_hash: string;
    created_at: number;
    last_login_at: number;
  };
  /**
   * A signup waiting for its phone code; no user exists until the code is entered. Email
   * lower-cased, not unique: an email that has an account gets a pending signup like any other.
   */
  app_pending_signups: AccountDetails & {
    /** SHA-256 (hex) of the signup cookie's token. */
    token_hash: string;
    e164: string;
    /** Codes tried (reserved before each check). */
    code_tries: number;
    last_sent_at: number | null;
    created_at: number;
    expires_at: number;
    /** When the phone code was right; the signup then waits for its email link. */
    phone_verified_at: number | null;
    /** SHA-256 (hex) of the email link's token, once the phone is proved. */
    email_token_hash: string | null;
  };
  app_callback_nonces: {
    /** X-Authy-Signature-Nonce (a Unix time in seconds). */
    nonce: string;
    /** SHA-256 of the signature: two genuine callbacks may share a second, never a signature. */
    signature_hash: string;
    seen_at: number;
  };
  /** A password reset link: single use (redeeming deletes the row), replaced by a newer one, ended by a login. */
  app_password_resets: {
    /** SHA-256 (hex) of the link's 32-byte token; the token itself is only in the email. */
    token_hash: string;
    user_id: number;
    created_at: number;
    expires_at: number;
  };
  /** A change of phone waiting for the code texted to the new number (one per account). */
  app_phone_changes: {
    user_id: number;
    country_code: string;
    region: string;
    /** National significant number, digits only. */
    phone: string;
    e164: string;
    code_tries: number;
    created_at: number;
    expires_at: number;
  };
  /** A change of email waiting for the link mailed to the new address (one per account). */
  app_email_changes: {
    token_hash: string;
    user_id: number;
    new_email: string;
    created_at: number;
    expires_at: number;
  };
  /** "Don't ask again on this browser": a browser's token (SHA-256) that skips the second factor for one account. */
  app_remembered_browsers: {
    token_hash: string;
    user_id: number;
    ip: string | null;
    user_agent: string | null;
    created_at: number;
    last_used_at: number;
    expires_at: number;
  };
  /** The WebAuthn user handle of an account: 32 random bytes (base64url), made at its first passkey. */
  app_passkey_handles: {
    user_id: number;
    handle: string;
  };
  /** A passkey: a WebAuthn credential registered on the account page. Nothing here is secret. */
  app_passkeys: {
    /** Public id (random), what the account page names it by. */
    id: string;
    user_id: number;
    /** The credential's id (base64url), unique across accounts. */
    credential_id: string;
    /** COSE public key (base64url). */
    public_key: string;
    /** The authenticator's signature counter last seen (0 for authenticators that keep none). */
    counter: number;
    /** JSON array of transports the browser reported ("internal", "usb", "hybrid", …). */
    transports: string;
    device_type: 'singleDevice' | 'multiDevice';
    /** 1 when the credential was backed up (synced) when last seen. */
    backed_up: number;
    /**
     * 1 when the authenticator is known to verify its user for this passkey (WebAuthn's
     * uvInitialized): set when it registered with user verification, or verified the user as the
     * second factor after the password; cleared by a password reset or change and by "end all
     * other sessions". Only then does its user-verified assertion count as a whole login or a step-up.
     */
    uv_initialized: number;
    name: string;
    created_at: number;
    last_used_at: number | null;
    /** Set when an assertion's counter went backwards (a copied authenticator): refused from then on. */
    cloned_at: number | null;
  };
  /** A WebAuthn challenge waiting for its answer: single use (consuming deletes the row), 5 minutes. */
  app_webauthn_challenges: {
    /** SHA-256 (hex) of the challenge. */
    challenge_hash: string;
    purpose: 'register' | 'second_factor' | 'reauth' | 'signin';
    /** SHA-256 (hex) the challenge is bound to: the session's token hash, or the sign-in cookie's. */
    binding_hash: string;
    user_id: number | null;
    attempt_id: string | null;
    created_at: number;
    expires_at: number;
  };
  app_recovery_codes: {
    id: Generated<number>;
    user_id: number;
    /** CodeHasher.hash('recovery:<user_id>', normalised code): keyed, never the code itself. */
    code_hash: string;
    created_at: number;
    /** Set once, by the conditional UPDATE that redeems the code. */
    used_at: number | null;
  };
}

/** What signup asks for, kept by the pending signup and then by the account. */
export interface AccountDetails {
  email: string;
  full_name: string;
  /** argon2id PHC string. */
  password_hash: string;
  /** Dialling code without "+", e.g. "1". */
  country_code: string;
  /** ISO 3166 alpha-2 region the phone was validated for. */
  region: string;
  /** National significant number (digits only) as sent to the service. */
  phone: string;
}

/** The database as the web app sees it: its own tables and the platform's. */
export interface AppDatabase extends AppTables, PlatformTables {}

/** The platform as the web app's modules receive it. */
export type AppPlatform = Platform<AppDatabase>;
