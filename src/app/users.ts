import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Clock } from '../platform/clock.js';
import { isUniqueViolation } from '../platform/db.js';
import type { AppDatabase } from './schema.js';
import type { AppTables } from './schema.js';

export type AppUser = Selectable<AppTables['app_users']>;
export type NewAppUser = Omit<Insertable<AppTables['app_users']>, 'id' | 'created_at' | 'totp_app_confirmed_at'>;

/** The web app's accounts. Emails are stored lower-cased and unique; so is `authy_id` once bound. */
export class AppUsers {
  constructor(
    private readonly db: Kysely<AppDatabase>,
    private readonly clock: Clock,
    /** `rowLocks`: the database locks rows for a transaction (PostgreSQL). */
    private readonly o: { rowLocks: boolean },
  ) {}

  byId(id: number): Promise<AppUser | undefined> {
    return this.db.selectFrom('app_users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  byEmail(email: string): Promise<AppUser | undefined> {
    return this.db.selectFrom('app_users').selectAll().where('email', '=', email).executeTakeFirst();
  }

  async idByEmail(email: string): Promise<number | undefined> {
    return (await this.db.selectFrom('app_users').select('id').where('email', '=', email).executeTakeFirst())?.id;
  }

  /** Insert an account; its id. A taken email or service user throws the database's unique violation. */
  async create(u: NewAppUser): Promise<number> {
    const row = await this.db
      .insertInto('app_users')
      .values({ ...u, totp_app_confirmed_at: null, created_at: this.clock.now() })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  }

  /**
   * The account's password hash as `trx` sees it, its row locked to the commit where the database
   * has row locks (PostgreSQL's FOR UPDATE; on SQLite the transaction holds the only writer).
   */
  async passwordHashFor(id: number, trx: Kysely<AppDatabase>): Promise<string | undefined> {
    const row = await trx
      .selectFrom('app_users')
      .select('password_hash')
      .where('id', '=', id)
      .$if(this.o.rowLocks, (q) => q.forUpdate())
      .executeTakeFirst();
    return row?.password_hash;
  }

  async setPasswordHash(id: number, passwordHash: string, trx: Kysely<AppDatabase> = this.db): Promise<boolean> {
    const r = await trx.updateTable('app_users').set({ password_hash: passwordHash }).where('id', '=', id).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async setPhone(id: number, p: { country_code: string; region: string; phone: string }, trx: Kysely<AppDatabase> = this.db): Promise<void> {
    await trx.updateTable('app_users').set({ country_code: p.country_code, region: p.region, phone: p.phone }).where('id', '=', id).execute();
  }

  /** Change the account's email; false when another account has it (the unique index decides). */
  async setEmail(id: number, email: string, trx: Kysely<AppDatabase> = this.db): Promise<boolean> {
    try {
      const r = await trx.updateTable('app_users').set({ email }).where('id', '=', id).executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    } catch (e) {
      if (isUniqueViolation(e)) return false;
      throw e;
    }
  }

  /** Bind a service user to an account that has none; false when it already had one. */
  async bindServiceUser(id: number, authyId: number): Promise<boolean> {
    const r = await this.db.updateTable('app_users').set({ authy_id: authyId }).where('id', '=', id).where('authy_id', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }
}
