import type { Kysely } from 'kysely';
import type { Clock } from '../../platform/clock.js';
import { randomToken } from '../../platform/crypto.js';
import type { CoreDatabase } from '../schema.js';
import { hashApiKey, type AuthenticatedApp } from '../authy-http.js';
import { newAccountSid } from '../migrations/018-verify-v2.js';

export interface AppRecord extends AuthenticatedApp {
  builtin: boolean;
  createdAt: number;
  /** The Account SID of the Verify v2-compatible API. */
  accountSid: string;
}

/** A new API key: 192 random bits, base64url. Shown once, stored only as `hashApiKey(key)`. */
export function newApiKey(): string {
  return randomToken(24);
}

/** Applications (relying parties) and their API keys. */
export class AppStore {
  constructor(
    private readonly db: Kysely<CoreDatabase>,
    private readonly clock: Clock,
  ) {}

  async findByKeyHash(apiKeyHash: string): Promise<AuthenticatedApp | undefined> {
    const row = await this.db
      .selectFrom('apps')
      .select(['id', 'name', 'callback_url'])
      .where('api_key_hash', '=', apiKeyHash)
      .executeTakeFirst();
    return row ? { id: row.id, name: row.name, callbackUrl: row.callback_url } : undefined;
  }

  /** The app whose API key hashes to `apiKeyHash`, with its Account SID (the Verify v2 API's HTTP Basic). */
  async findWithAccountSid(apiKeyHash: string): Promise<{ id: number; name: string; accountSid: string } | undefined> {
    const row = await this.db.selectFrom('apps').select(['id', 'name', 'account_sid']).where('api_key_hash', '=', apiKeyHash).executeTakeFirst();
    return row ? { id: row.id, name: row.name, accountSid: row.account_sid } : undefined;
  }

  async get(id: number): Promise<AppRecord | undefined> {
    const row = await this.db.selectFrom('apps').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toRecord(row) : undefined;
  }

  async list(): Promise<AppRecord[]> {
    const rows = await this.db.selectFrom('apps').selectAll().orderBy('id').execute();
    return rows.map(toRecord);
  }

  /** Register an application; returns it with its API key (the only time the key exists in clear). */
  async create(input: { name: string; callbackUrl: string | null }): Promise<{ app: AppRecord; apiKey: string }> {
    const apiKey = newApiKey();
    const row = await this.db
      .insertInto('apps')
      .values({ name: input.name, api_key_hash: hashApiKey(apiKey), callback_url: input.callbackUrl, builtin: 0, created_at: this.clock.now(), account_sid: newAccountSid() })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { app: toRecord(row), apiKey };
  }

  /**
   * Make the built-in web app's row match the configuration (name, key, callback URL), creating it
   * on first start. Several instances may start at once: the unique key hash makes the insert
   * happen once.
   */
  async ensureBuiltin(input: { name: string; apiKey: string; callbackUrl: string }): Promise<void> {
    const values = { name: input.name, api_key_hash: hashApiKey(input.apiKey), callback_url: input.callbackUrl };
    const updated = await this.db.updateTable('apps').set(values).where('builtin', '=', 1).executeTakeFirst();
    if (Number(updated.numUpdatedRows) > 0) return;
    await this.db
      .insertInto('apps')
      .values({ ...values, builtin: 1, created_at: this.clock.now(), account_sid: newAccountSid() })
      .onConflict((oc) => oc.column('api_key_hash').doNothing())
      .execute();
  }
}

function toRecord(r: { id: number; name: string; callback_url: string | null; builtin: number; created_at: number; account_sid: string }): AppRecord {
  return { id: r.id, name: r.name, callbackUrl: r.callback_url, builtin: r.builtin === 1, createdAt: r.created_at, accountSid: r.account_sid };
}
