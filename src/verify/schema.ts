import type { Generated } from 'kysely';

/** Tables owned by the verification service. Timestamps are milliseconds since the epoch. */
export interface VerifyTables {
  apps: {
    id: Generated<number>;
    name: string;
    api_key_hash: string;
    callback_url: string | null;
    builtin: number;
    created_at: number;
  };
  verify_users: {
    id: Generated<number>;
    app_id: number;
    email: string;
    country_code: string;
    region: string;
    phone_e164: string;
    /** SecretBox-sealed 20-byte TOTP secret, AD = verify_users/totp_secret/<id>. */
    totp_secret: string | null;
    created_at: number;
  };
  totp_used_steps: {
    user_id: number;
    step: number;
    used_at: number;
  };
  sms_codes: {
    id: Generated<number>;
    user_id: number;
    code_hash: string;
    attempts: Generated<number>;
    max_attempts: number;
    created_at: number;
    expires_at: number;
    consumed_at: number | null;
  };
  phone_verifications: {
    uuid: string;
    app_id: number;
    phone_e164: string;
    code_hash: string;
    attempts: Generated<number>;
    max_attempts: number;
    created_at: number;
    expires_at: number;
    consumed_at: number | null;
  };
}
