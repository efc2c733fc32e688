import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { SecretBox } from '../../platform/crypto.js';
import type { Database } from '../../platform/schema.js';
import type { TotpParameters, TotpSecretStore } from '../ports.js';
import { base32Encode, totpUri } from './totp.js';
import type { UserStore } from './users.js';

/** 160-bit secrets (RFC 4226 §4 recommends 160 bits). */
export const TOTP_SECRET_BYTES = 20;
export const TOTP_DIGITS = 6;
export const TOTP_PERIOD_SECONDS = 30;

export class UnknownUserError extends Error {
  override name = 'UnknownUserError';
}

export const totpSecretAd = (userId: number): Buffer => SecretBox.associatedData('verify_users', 'totp_secret', userId);

/**
 * Per-user TOTP secrets, sealed with AES-256-GCM bound to `verify_users/totp_secret/<id>`.
 * Created once: a conditional UPDATE (… WHERE totp_secret IS NULL) wins exactly once even when
 * two requests race, and both then read the stored secret.
 */
export class TotpSecrets implements TotpSecretStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly box: SecretBox,
    private readonly users: UserStore,
  ) {}

  async getOrCreate(userId: number): Promise<TotpParameters> {
    const user = await this.users.findAnyApp(userId);
    if (!user) throw new UnknownUserError(`no user ${userId}`);
    let sealed = user.totpSecret;
    if (sealed === null) {
      const candidate = this.box.seal(randomBytes(TOTP_SECRET_BYTES), totpSecretAd(userId));
      await this.db.updateTable('verify_users').set({ totp_secret: candidate }).where('id', '=', userId).where('totp_secret', 'is', null).execute();
      const row = await this.db.selectFrom('verify_users').select('totp_secret').where('id', '=', userId).executeTakeFirst();
      if (!row?.totp_secret) throw new UnknownUserError(`no user ${userId}`);
      sealed = row.totp_secret;
    }
    const secret = this.box.open(sealed, totpSecretAd(userId));
    return parametersFor(secret, user.appName, user.email);
  }

  /** The user's secret, or null when none was created yet. Throws when it does not decrypt. */
  open(userId: number, sealed: string | null): Uint8Array | null {
    return sealed === null ? null : this.box.open(sealed, totpSecretAd(userId));
  }
}

export function parametersFor(secret: Uint8Array, issuer: string, label: string): TotpParameters {
  return {
    secret: base32Encode(secret),
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
    algorithm: 'SHA1',
    issuer,
    label,
    uri: totpUri(secret, issuer, label, { digits: TOTP_DIGITS, periodInSeconds: TOTP_PERIOD_SECONDS, algorithm: 'SHA1' }),
  };
}
