import type { Kysely, Selectable } from 'kysely';
import type { Clock } from '../platform/clock.js';
import type { AppDatabase, AppTables } from './schema.js';
import type { PhoneChoice } from './validation.js';

export type PhoneChange = Selectable<AppTables['app_phone_changes']>;

/** A new number's code works as long as the service's (10 minutes). */
export const PHONE_CHANGE_TTL_MS = 10 * 60 * 1000;
/** Wrong codes after which the change ends. */
export const PHONE_CHANGE_MAX_TRIES = 5;

/** Changes of phone waiting for the code texted to the new number: one per account. */
export class PhoneChanges {
  constructor(
    private readonly db: Kysely<AppDatabase>,
    private readonly clock: Clock,
  ) {}

  async start(userId: number, phone: PhoneChoice): Promise<PhoneChange> {
    const now = this.clock.now();
    const row: PhoneChange = { user_id: userId, country_code: phone.countryCode, region: phone.region, phone: phone.nationalNumber, e164: phone.e164, code_tries: 0, created_at: now, expires_at: now + PHONE_CHANGE_TTL_MS };
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('app_phone_changes').where('user_id', '=', userId).execute();
      await trx.insertInto('app_phone_changes').values(row).execute();
    });
    return row;
  }

  live(userId: number): Promise<PhoneChange | undefined> {
    return this.db.selectFrom('app_phone_changes').selectAll().where('user_id', '=', userId).where('expires_at', '>', this.clock.now()).executeTakeFirst();
  }

  /** Reserve a code try before checking it; the tries used including this one, or undefined. */
  async reserveTry(userId: number): Promise<number | undefined> {
    const row = await this.db
      .updateTable('app_phone_changes')
      .set((eb) => ({ code_tries: eb('code_tries', '+', 1) }))
      .where('user_id', '=', userId)
      .where('code_tries', '<', PHONE_CHANGE_MAX_TRIES)
      .where('expires_at', '>', this.clock.now())
      .returning('code_tries')
      .executeTakeFirst();
    return row?.code_tries;
  }

  async refundTry(userId: number): Promise<void> {
    await this.db.updateTable('app_phone_changes').set((eb) => ({ code_tries: eb('code_tries', '-', 1) })).where('user_id', '=', userId).where('code_tries', '>', 0).execute();
  }

  /** End the change; true for the one caller that ended it. */
  async end(userId: number, trx: Kysely<AppDatabase> = this.db): Promise<boolean> {
    const r = await trx.deleteFrom('app_phone_changes').where('user_id', '=', userId).executeTakeFirst();
    return Number(r.numDeletedRows) === 1;
  }

  async sweep(): Promise<void> {
    await this.db.deleteFrom('app_phone_changes').where('expires_at', '<=', this.clock.now()).execute();
  }
}
