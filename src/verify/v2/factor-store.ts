import { randomBytes } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { Clock } from '../../platform/clock.js';
import { SecretBox } from '../../platform/crypto.js';
import type { CoreDatabase, VerifyTables } from '../schema.js';
import { matchTotpStep, type TotpAlgorithm } from '../core/totp.js';
import { newSid, sidPattern } from './resources.js';

export type EntityRow = Selectable<VerifyTables['verify_v2_entities']>;
export type FactorRow = Selectable<VerifyTables['verify_v2_factors']>;
export type ChallengeRow = Selectable<VerifyTables['verify_v2_challenges']>;

export interface TotpConfig {
  time_step: number;
  skew: number;
  code_length: number;
  alg: 'sha1' | 'sha256' | 'sha512';
}

/** Wrong codes one challenge takes (Verify: 5, then 60308). */
export const MAX_CHALLENGE_ATTEMPTS = 5;
/** A challenge lives 5 minutes unless its ExpirationDate says otherwise (at most 60). */
export const CHALLENGE_DEFAULT_MS = 5 * 60 * 1000;
export const CHALLENGE_MAX_MS = 60 * 60 * 1000;

const secretAd = (sid: string) => SecretBox.associatedData('verify_v2_factors', 'sealed_secret', sid);

/**
 * Entities, their TOTP factors and the factors' challenges. A code counts once: the factor's
 * newest accepted time step only moves forwards, by a conditional UPDATE; a challenge's tries are
 * counted the same way before the comparison.
 */
export class FactorStore {
  constructor(
    private readonly db: Kysely<CoreDatabase>,
    private readonly clock: Clock,
    private readonly box: SecretBox,
  ) {}

  entity(serviceSid: string, identity: string): Promise<EntityRow | undefined> {
    return this.db.selectFrom('verify_v2_entities').selectAll().where('service_sid', '=', serviceSid).where('identity', '=', identity).executeTakeFirst();
  }

  /** The entity of `identity`, made now when it does not exist (a factor's creation makes it, as Verify's does). */
  async ensureEntity(serviceSid: string, identity: string): Promise<EntityRow> {
    const now = this.clock.now();
    await this.db
      .insertInto('verify_v2_entities')
      .values({ sid: newSid('YE'), service_sid: serviceSid, identity, created_at: now, updated_at: now })
      .onConflict((oc) => oc.columns(['service_sid', 'identity']).doNothing())
      .execute();
    return (await this.entity(serviceSid, identity))!;
  }

  entities(serviceSid: string, page: number, size: number): Promise<EntityRow[]> {
    return this.db.selectFrom('verify_v2_entities').selectAll().where('service_sid', '=', serviceSid).orderBy('created_at').orderBy('sid').limit(size + 1).offset(page * size).execute();
  }

  async deleteEntity(sid: string, trx: Kysely<CoreDatabase> = this.db): Promise<void> {
    await trx.deleteFrom('verify_v2_entities').where('sid', '=', sid).execute();
  }

  /** A new TOTP factor: `secret` when the app brings one, else 20 random bytes. */
  async createTotp(entity: EntityRow, friendlyName: string, config: TotpConfig, secret: Uint8Array = randomBytes(20), trx: Kysely<CoreDatabase> = this.db): Promise<{ row: FactorRow; secret: Uint8Array }> {
    const now = this.clock.now();
    const sid = newSid('YF');
    const row: FactorRow = { sid, entity_sid: entity.sid, friendly_name: friendlyName, factor_type: 'totp', status: 'unverified', sealed_secret: this.box.seal(Buffer.from(secret), secretAd(sid)), config: JSON.stringify(config), metadata: null, last_step: -1, public_key: null, created_at: now, updated_at: now };
    await trx.insertInto('verify_v2_factors').values(row).execute();
    return { row, secret };
  }

  factor(entitySid: string, sid: string): Promise<FactorRow | undefined> {
    if (!sidPattern('YF').test(sid)) return Promise.resolve(undefined);
    return this.db.selectFrom('verify_v2_factors').selectAll().where('entity_sid', '=', entitySid).where('sid', '=', sid).executeTakeFirst();
  }

  factors(entitySid: string): Promise<FactorRow[]> {
    return this.db.selectFrom('verify_v2_factors').selectAll().where('entity_sid', '=', entitySid).orderBy('created_at').orderBy('sid').execute();
  }

  async deleteFactor(sid: string, trx: Kysely<CoreDatabase> = this.db): Promise<void> {
    await trx.deleteFrom('verify_v2_factors').where('sid', '=', sid).execute();
  }

  async updateFactor(sid: string, set: Partial<Pick<FactorRow, 'friendly_name' | 'config' | 'last_step'>>): Promise<void> {
    await this.db.updateTable('verify_v2_factors').set({ ...set, updated_at: this.clock.now() }).where('sid', '=', sid).execute();
  }

  /** unverified → verified, once (true for the request that made it). */
  async markVerified(sid: string, trx: Kysely<CoreDatabase>): Promise<boolean> {
    const r = await trx.updateTable('verify_v2_factors').set({ status: 'verified', updated_at: this.clock.now() }).where('sid', '=', sid).where('status', '=', 'unverified').executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /**
   * Whether `code` is the factor's code now (within its skew), for a time step newer than any
   * accepted before: claimed by one conditional UPDATE, so a code counts once even when raced.
   */
  async acceptCode(f: FactorRow, code: string): Promise<boolean> {
    const c = JSON.parse(f.config) as TotpConfig;
    const secret = this.box.open(f.sealed_secret, secretAd(f.sid));
    const step = matchTotpStep(secret, code, this.clock.now(), { digits: c.code_length, periodInSeconds: c.time_step, algorithm: c.alg.toUpperCase() as TotpAlgorithm, window: c.skew });
    if (step === null) return false;
    const r = await this.db.updateTable('verify_v2_factors').set({ last_step: step }).where('sid', '=', f.sid).where('last_step', '<', step).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  // ---- Challenges ----

  async createChallenge(f: FactorRow, o: { details: string; hidden: string | null; expiresAt: number }): Promise<ChallengeRow> {
    const now = this.clock.now();
    const row: ChallengeRow = { sid: newSid('YC'), factor_sid: f.sid, status: 'pending', responded_reason: 'none', details: o.details, hidden_details: o.hidden, metadata: null, auth_attempts: 0, expires_at: o.expiresAt, responded_at: null, created_at: now, updated_at: now };
    await this.db.insertInto('verify_v2_challenges').values(row).execute();
    return row;
  }

  /** A challenge of the entity's factors; one past its expiry reads as `expired`. */
  async challenge(entitySid: string, sid: string): Promise<ChallengeRow | undefined> {
    if (!sidPattern('YC').test(sid)) return undefined;
    const row = await this.db
      .selectFrom('verify_v2_challenges as c')
      .innerJoin('verify_v2_factors as f', 'f.sid', 'c.factor_sid')
      .selectAll('c')
      .where('f.entity_sid', '=', entitySid)
      .where('c.sid', '=', sid)
      .executeTakeFirst();
    return row && this.current(row);
  }

  async challenges(entitySid: string, o: { factorSid?: string | undefined; status?: string | undefined }): Promise<ChallengeRow[]> {
    let q = this.db.selectFrom('verify_v2_challenges as c').innerJoin('verify_v2_factors as f', 'f.sid', 'c.factor_sid').selectAll('c').where('f.entity_sid', '=', entitySid);
    if (o.factorSid) q = q.where('c.factor_sid', '=', o.factorSid);
    const rows = (await q.orderBy('c.created_at', 'desc').limit(1000).execute()).map((r) => this.current(r));
    return o.status ? rows.filter((r) => r.status === o.status) : rows;
  }

  /** Pending challenges past their expiry (at most 100 a pass), with what their events name. */
  dueToExpire(serviceSid?: string) {
    let q = this.db
      .selectFrom('verify_v2_challenges as c')
      .innerJoin('verify_v2_factors as f', 'f.sid', 'c.factor_sid')
      .innerJoin('verify_v2_entities as e', 'e.sid', 'f.entity_sid')
      .innerJoin('verify_v2_services as s', 's.sid', 'e.service_sid')
      .innerJoin('apps as a', 'a.id', 's.app_id')
      .selectAll('c')
      .select(['f.friendly_name as factor_name', 'f.status as factor_status', 'f.factor_type', 'e.identity', 'e.service_sid', 's.app_id', 'a.account_sid'])
      .where('c.status', '=', 'pending')
      .where('c.expires_at', '<=', this.clock.now());
    if (serviceSid) q = q.where('e.service_sid', '=', serviceSid);
    return q.limit(100).execute();
  }

  /** pending → expired, once (true for the caller that made it). */
  async expireChallenge(sid: string, trx: Kysely<CoreDatabase>): Promise<boolean> {
    const now = this.clock.now();
    const r = await trx.updateTable('verify_v2_challenges').set({ status: 'expired', updated_at: now }).where('sid', '=', sid).where('status', '=', 'pending').where('expires_at', '<=', now).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  private current(r: ChallengeRow): ChallengeRow {
    return r.status === 'pending' && r.expires_at <= this.clock.now() ? { ...r, status: 'expired' } : r;
  }

  /** Count one try of a pending challenge before its code is compared; false when none is left (or it ended). */
  async claimChallengeTry(sid: string): Promise<'claimed' | 'exhausted' | 'ended'> {
    const now = this.clock.now();
    const r = await this.db
      .updateTable('verify_v2_challenges')
      .set((eb) => ({ auth_attempts: eb('auth_attempts', '+', 1), updated_at: now }))
      .where('sid', '=', sid)
      .where('status', '=', 'pending')
      .where('expires_at', '>', now)
      .where('auth_attempts', '<', MAX_CHALLENGE_ATTEMPTS)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 1) return 'claimed';
    const row = await this.db.selectFrom('verify_v2_challenges').select(['status', 'expires_at', 'auth_attempts']).where('sid', '=', sid).executeTakeFirst();
    return row && row.status === 'pending' && row.expires_at > now ? 'exhausted' : 'ended';
  }

  /** Challenges ended (or expired) more than a day ago are forgotten. */
  async sweep(): Promise<void> {
    await this.db.deleteFrom('verify_v2_challenges').where('expires_at', '<', this.clock.now() - 86_400_000).execute();
  }

  /** pending → approved, once; the row after, or undefined. */
  async approveChallenge(sid: string, trx: Kysely<CoreDatabase> = this.db): Promise<ChallengeRow | undefined> {
    const now = this.clock.now();
    return trx.updateTable('verify_v2_challenges').set({ status: 'approved', responded_at: now, updated_at: now }).where('sid', '=', sid).where('status', '=', 'pending').where('expires_at', '>', now).returningAll().executeTakeFirst();
  }
}
