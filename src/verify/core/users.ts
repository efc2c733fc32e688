import type { Kysely, Selectable } from 'kysely';
import type { Clock } from '../../platform/clock.js';
import { isUniqueViolation } from '../../platform/db.js';
import { firstRow, prepared } from '../../platform/prepared-query.js';
import type { CoreDatabase, VerifyTables } from '../schema.js';
import type { Phone } from './phone.js';

export interface VerifyUser {
  id: number;
  appId: number;
  email: string;
  countryCode: string;
  region: string;
  phoneE164: string;
  totpSecret: string | null;
  createdAt: number;
}

const EMAIL = /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+\.[^\s@<>()[\]\\,;:"]+$/;

/** A plausible email address (the service only stores it as the TOTP label). */
export function isValidEmail(email: string | undefined): email is string {
  return email !== undefined && email.length <= 254 && EMAIL.test(email);
}

/**
 * Users of the verification service; every lookup is scoped to the app that owns the user.
 *
 * LOCK ORDER: a transaction that writes both a user's SMS code and the user's row takes the code's
 * row first. A token check does (src/verify/core/verification.ts: the code's try, then the
 * failures cleared, in one transaction); a phone change or a removal taking the user's row first
 * would deadlock with it on PostgreSQL.
 */
export class UserStore {
  constructor(
    private readonly db: Kysely<CoreDatabase>,
    private readonly clock: Clock,
  ) {}

  /**
   * Register a user; the same phone and email (lower-cased by the caller) for the same app return
   * the existing id (the unique index on app, phone and email decides, even when two
   * registrations race). The same phone with another email is another user, with its own factors:
   * a second factor is never shared between two people (docs/authy-compat.md).
   */
  async register(appId: number, email: string, phone: Phone): Promise<number> {
    await this.db
      .insertInto('verify_users')
      .values({
        app_id: appId,
        email,
        country_code: phone.countryCode,
        region: phone.region,
        phone_e164: phone.e164,
        totp_secret: null,
        locked_until: null,
        created_at: this.clock.now(),
      })
      .onConflict((oc) => oc.columns(['app_id', 'phone_e164', 'email']).doNothing())
      .execute();
    const row = await this.db
      .selectFrom('verify_users')
      .select('id')
      .where('app_id', '=', appId)
      .where('phone_e164', '=', phone.e164)
      .where('email', '=', email)
      .executeTakeFirstOrThrow();
    return row.id;
  }

  async find(appId: number, id: number): Promise<VerifyUser | undefined> {
    const r = await firstRow(findUser(this.db, { id, appId }));
    return r ? toUser(r) : undefined;
  }

  /**
   * Move the user to another phone, keeping its factors; false when the app already has a user
   * with that phone and this email (the unique index decides).
   */
  async changePhone(appId: number, id: number, phone: Phone): Promise<boolean> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        // Codes texted to the old number stop working: that phone may be lost, or someone else's.
        // The code's row before the user's, as a token check takes them (LOCK ORDER below).
        await trx.deleteFrom('sms_codes').where('user_id', '=', id).where('user_id', 'in', (eb) => eb.selectFrom('verify_users').select('id').where('app_id', '=', appId)).execute();
        const r = await trx
          .updateTable('verify_users')
          .set({ country_code: phone.countryCode, region: phone.region, phone_e164: phone.e164 })
          .where('id', '=', id)
          .where('app_id', '=', appId)
          .executeTakeFirst();
        return Number(r.numUpdatedRows) === 1;
      });
    } catch (e) {
      if (isUniqueViolation(e)) return false;
      throw e;
    }
  }

  /** True when a row was deleted. Dependent rows (TOTP secrets, used steps, SMS codes) go with it. */
  async remove(appId: number, id: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      // The SMS code's row first, as a token check takes them (LOCK ORDER below); the rest cascades.
      await trx.deleteFrom('sms_codes').where('user_id', '=', id).where('user_id', 'in', (eb) => eb.selectFrom('verify_users').select('id').where('app_id', '=', appId)).execute();
      const r = await trx.deleteFrom('verify_users').where('id', '=', id).where('app_id', '=', appId).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }
}

function toUser(r: Selectable<VerifyTables['verify_users']>): VerifyUser {
  return {
    id: r.id,
    appId: r.app_id,
    email: r.email,
    countryCode: r.country_code,
    region: r.region,
    phoneE164: r.phone_e164,
    totpSecret: r.totp_secret,
    createdAt: r.created_at,
  };
}

const findUser = prepared<CoreDatabase, Selectable<CoreDatabase['verify_users']>, { id: number; appId: number }>((db, slot) =>
  db.selectFrom('verify_users').selectAll().where('id', '=', slot('id')).where('app_id', '=', slot('appId')),
);
