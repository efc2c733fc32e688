import { createHash, randomBytes } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { Clock } from '../../platform/clock.js';
import type { CoreDatabase, VerifyTables } from '../schema.js';
import type { ChallengeRow, EntityRow, FactorRow } from './factor-store.js';
import { newSid, sidPattern } from './resources.js';
import type { PushDecision } from '../../protocol/verify-push.js';

export type AccessTokenRow = Selectable<VerifyTables['verify_v2_access_tokens']>;

/** `Config.*` of a push factor, as Verify names them. */
export interface PushConfig {
  sdk_version: string | null;
  app_id: string | null;
  notification_platform: 'none';
  notification_token: null;
}

/** A push factor with what a signed request needs of it: its entity, service and app. */
export interface SignerRow {
  factor: FactorRow;
  entity: EntityRow;
  app: { id: number; accountSid: string };
}

/** Nonces of signed requests are kept this long (timestamps outside ±60 s are refused anyway). */
export const PUSH_NONCE_RETENTION_MS = 10 * 60 * 1000;

export const hashToken = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

/**
 * Verify v2 push factors' storage: access tokens (hashed, single use, consumed in the transaction
 * that creates the factor), the factors' keys, request nonces (each once, by the primary key) and
 * the device's answers (pending → approved | denied once, by a conditional UPDATE).
 */
export class PushStore {
  constructor(
    private readonly db: Kysely<CoreDatabase>,
    private readonly clock: Clock,
  ) {}

  /** A new access token: the row (hash only) and the token, shown once. */
  async createToken(o: { serviceSid: string; identity: string; friendlyName: string | null; ttl: number }): Promise<{ row: AccessTokenRow; token: string }> {
    const now = this.clock.now();
    // Hex: a shell argument that never starts with a dash.
    const token = randomBytes(32).toString('hex');
    const row: AccessTokenRow = {
      sid: newSid('YK'),
      service_sid: o.serviceSid,
      identity: o.identity,
      factor_type: 'push',
      factor_friendly_name: o.friendlyName,
      token_hash: hashToken(token),
      ttl: o.ttl,
      expires_at: now + o.ttl * 1000,
      consumed_at: null,
      factor_sid: null,
      created_at: now,
    };
    await this.db.insertInto('verify_v2_access_tokens').values(row).execute();
    return { row, token };
  }

  getToken(serviceSid: string, sid: string): Promise<AccessTokenRow | undefined> {
    if (!sidPattern('YK').test(sid)) return Promise.resolve(undefined);
    return this.db.selectFrom('verify_v2_access_tokens').selectAll().where('service_sid', '=', serviceSid).where('sid', '=', sid).executeTakeFirst();
  }

  tokenByValue(token: string): Promise<AccessTokenRow | undefined> {
    return this.db.selectFrom('verify_v2_access_tokens').selectAll().where('token_hash', '=', hashToken(token)).executeTakeFirst();
  }

  /** The app that owns a service (its events name it). */
  async appOf(serviceSid: string): Promise<{ id: number; accountSid: string } | undefined> {
    const r = await this.db.selectFrom('verify_v2_services as s').innerJoin('apps as a', 'a.id', 's.app_id').select(['a.id', 'a.account_sid']).where('s.sid', '=', serviceSid).executeTakeFirst();
    return r && { id: r.id, accountSid: r.account_sid };
  }

  /**
   * A push factor made with the token `tokenSid`, in `trx`: the token is consumed first by a
   * conditional UPDATE (unused, unexpired), so of two racing uses one creates a factor; undefined
   * for the other.
   */
  async createFactor(trx: Kysely<CoreDatabase>, o: { tokenSid: string; entity: EntityRow; name: string; publicKey: string; config: PushConfig }): Promise<FactorRow | undefined> {
    const now = this.clock.now();
    const sid = newSid('YF');
    const used = await trx
      .updateTable('verify_v2_access_tokens')
      .set({ consumed_at: now, factor_sid: sid })
      .where('sid', '=', o.tokenSid)
      .where('consumed_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    if (Number(used.numUpdatedRows) !== 1) return undefined;
    const row: FactorRow = {
      sid,
      entity_sid: o.entity.sid,
      friendly_name: o.name,
      factor_type: 'push',
      status: 'unverified',
      sealed_secret: '',
      config: JSON.stringify(o.config),
      metadata: null,
      last_step: -1,
      public_key: o.publicKey,
      created_at: now,
      updated_at: now,
    };
    await trx.insertInto('verify_v2_factors').values(row).execute();
    return row;
  }

  /** A push factor by SID with its entity and app, for a request it signs. */
  async signer(factorSid: string): Promise<SignerRow | undefined> {
    if (!sidPattern('YF').test(factorSid)) return undefined;
    const r = await this.db
      .selectFrom('verify_v2_factors as f')
      .innerJoin('verify_v2_entities as e', 'e.sid', 'f.entity_sid')
      .innerJoin('verify_v2_services as s', 's.sid', 'e.service_sid')
      .innerJoin('apps as a', 'a.id', 's.app_id')
      .selectAll('f')
      .select(['e.service_sid', 'e.identity', 'e.created_at as e_created_at', 'e.updated_at as e_updated_at', 's.app_id', 'a.account_sid'])
      .where('f.sid', '=', factorSid)
      .where('f.factor_type', '=', 'push')
      .executeTakeFirst();
    if (!r) return undefined;
    const { service_sid, identity, e_created_at, e_updated_at, app_id, account_sid, ...factor } = r;
    return { factor, entity: { sid: factor.entity_sid, service_sid, identity, created_at: e_created_at, updated_at: e_updated_at }, app: { id: app_id, accountSid: account_sid } };
  }

  /** Record a signed request's nonce; false when the factor used it before (a replay). */
  async claimNonce(factorSid: string, nonce: string): Promise<boolean> {
    const r = await this.db
      .insertInto('verify_v2_push_nonces')
      .values({ factor_sid: factorSid, nonce, seen_at: this.clock.now() })
      .onConflict((oc) => oc.columns(['factor_sid', 'nonce']).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  /** pending → approved | denied by the device, once; the row after, or undefined (answered, expired). */
  answer(sid: string, factorSid: string, status: PushDecision, trx: Kysely<CoreDatabase>): Promise<ChallengeRow | undefined> {
    const now = this.clock.now();
    return trx
      .updateTable('verify_v2_challenges')
      .set({ status, responded_at: now, updated_at: now })
      .where('sid', '=', sid)
      .where('factor_sid', '=', factorSid)
      .where('status', '=', 'pending')
      .where('expires_at', '>', now)
      .returningAll()
      .executeTakeFirst();
  }

  /** Forget old nonces, and tokens a day past their expiry. */
  async sweep(): Promise<void> {
    const now = this.clock.now();
    await this.db.deleteFrom('verify_v2_push_nonces').where('seen_at', '<', now - PUSH_NONCE_RETENTION_MS).execute();
    await this.db.deleteFrom('verify_v2_access_tokens').where('expires_at', '<', now - 86_400_000).execute();
  }
}
