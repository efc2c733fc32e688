import { randomBytes, randomUUID } from 'node:crypto';
import type { Insertable, Kysely, Selectable } from 'kysely';
import { AuditType } from '../../platform/audit.js';
import { prepared } from '../../platform/prepared-query.js';
import { SecretBox } from '../../platform/crypto.js';
import type { OneTouchDatabase } from '../schema-onetouch.js';
import { inSharedTransaction } from './directory.js';
import type { CoreDatabase, CorePlatform } from '../schema.js';
import { LEGACY_SECRET_ID, type AuditMeta, type TotpAppView, type TotpParameters, type TotpSecretStore } from '../ports.js';
import { base32Encode, totpUri } from './totp.js';
import type { VerifyUser } from './users.js';

/** 160-bit secrets (RFC 4226 §4 recommends 160 bits). */
export const TOTP_SECRET_BYTES = 20;
export const TOTP_DIGITS = 6;
export const TOTP_PERIOD_SECONDS = 30;
/**
 * A pending third-party app secret (created, never confirmed by a code) counts for this long
 * (ms): an enrolment someone abandoned, or planted, does not stay a way in.
 */
export const PENDING_APP_SECRET_TTL_MS = 15 * 60 * 1000;
/** `last_used_at` is refreshed at most this often (ms): it is a hint for people, not a counter. */
const LAST_USED_RESOLUTION_MS = 30_000;

export class UnknownUserError extends Error {
  override name = 'UnknownUserError';
}

/** Which authenticator a TOTP secret belongs to. */
export type TotpFactor = 'authenticator' | 'totp_app' | 'legacy';

/** One secret a code may match, opened. */
export interface TotpCandidate {
  id: string;
  factor: TotpFactor;
  deviceId: string | null;
  pending: boolean;
  lastUsedAt: number | null;
  secret: Uint8Array;
}

/** Before migration 008 every authenticator of a user shared this one secret. */
export const legacySecretAd = (userId: number): Buffer => SecretBox.associatedData('verify_users', 'totp_secret', userId);
export const totpSecretAd = (id: string): Buffer => SecretBox.associatedData('totp_secrets', 'sealed', id);

/**
 * One TOTP secret per authenticator, sealed with AES-256-GCM bound to `totp_secrets/sealed/<id>`:
 * each device gets its own at activation (and loses it at revocation), each third-party app
 * enrolment gets its own, pending until a code of it is verified. Users enrolled before keep their
 * legacy shared secret (`verify_users.totp_secret`) until the relying app removes it.
 */
export class TotpSecrets implements TotpSecretStore {
  constructor(private readonly p: CorePlatform) {}

  private get db(): Kysely<CoreDatabase> {
    return this.p.db.db;
  }

  async createForDevice(shared: Kysely<OneTouchDatabase>, userId: number, deviceId: string, meta: AuditMeta): Promise<TotpParameters> {
    const trx = inSharedTransaction(shared);
    const owner = await this.owner(trx, userId);
    const { row, secret } = this.fresh(userId, { kind: 'device', device_id: deviceId, label: null, state: 'active' });
    await trx.insertInto('totp_secrets').values(row).execute();
    await this.audit(trx, AuditType.TOTP_SECRET_CREATED, userId, { secret_id: row.id, kind: 'device', device_id: deviceId }, meta);
    return parametersFor(secret, owner.appName, owner.email);
  }

  async forDevice(userId: number, deviceId: string): Promise<TotpParameters> {
    const owner = await this.owner(this.db, userId);
    const own = () => this.db.selectFrom('totp_secrets').select(['id', 'sealed']).where('device_id', '=', deviceId).where('user_id', '=', userId).executeTakeFirst();
    let row = await own();
    if (!row) {
      // Enrolled before per-device secrets: it was given the shared secret, which it keeps while
      // the user has it; otherwise it gets its own now (the unique index on device_id makes two
      // racing requests create one).
      if (owner.legacy !== null) return parametersFor(this.p.secretBox.open(owner.legacy, legacySecretAd(userId)), owner.appName, owner.email);
      const { row: fresh } = this.fresh(userId, { kind: 'device', device_id: deviceId, label: null, state: 'active' });
      const inserted = await this.db.insertInto('totp_secrets').values(fresh).onConflict((oc) => oc.column('device_id').doNothing()).executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1) {
        await this.audit(this.db, AuditType.TOTP_SECRET_CREATED, userId, { secret_id: fresh.id, kind: 'device', device_id: deviceId }, {});
      }
      row = await own();
      if (!row) throw new UnknownUserError(`no device ${deviceId} for user ${userId}`);
    }
    return parametersFor(this.p.secretBox.open(row.sealed, totpSecretAd(row.id)), owner.appName, owner.email);
  }

  async removeForDevice(shared: Kysely<OneTouchDatabase>, userId: number, deviceId: string, meta: AuditMeta): Promise<void> {
    const trx = inSharedTransaction(shared);
    const gone = await trx.deleteFrom('totp_secrets').where('device_id', '=', deviceId).where('user_id', '=', userId).returning('id').execute();
    for (const r of gone) await this.audit(trx, AuditType.TOTP_SECRET_REMOVED, userId, { secret_id: r.id, kind: 'device', device_id: deviceId }, meta);
  }

  /**
   * A new pending secret for a third-party app, shown once. An earlier pending one is replaced;
   * the active one stays valid until a code of the new one is verified (`confirmApp`). Two racing
   * calls may each leave a pending secret: whichever is confirmed first removes the other.
   */
  async createForApp(userId: number, label: string | undefined, meta: AuditMeta): Promise<{ id: string; parameters: TotpParameters }> {
    const owner = await this.owner(this.db, userId);
    const name = label ?? owner.email;
    const { row, secret } = this.fresh(userId, { kind: 'app', device_id: null, label: name, state: 'pending' });
    await this.db.transaction().execute(async (trx) => {
      const replaced = await trx.deleteFrom('totp_secrets').where('user_id', '=', userId).where('kind', '=', 'app').where('state', '=', 'pending').returning('id').execute();
      for (const r of replaced) await this.audit(trx, AuditType.TOTP_SECRET_REMOVED, userId, { secret_id: r.id, kind: 'app', reason: 'replaced' }, meta);
      await trx.insertInto('totp_secrets').values(row).execute();
      await this.audit(trx, AuditType.TOTP_SECRET_CREATED, userId, { secret_id: row.id, kind: 'app' }, meta);
    });
    return { id: row.id, parameters: parametersFor(secret, owner.appName, name) };
  }

  /**
   * A pending app secret whose code was just verified becomes the user's app secret, and the older
   * app secrets are deleted, in one transaction. 'activated' once (conditional update); 'active'
   * when it already was; 'gone' when it was removed meanwhile.
   */
  async confirmApp(userId: number, id: string, meta: AuditMeta, within?: Kysely<CoreDatabase>): Promise<'activated' | 'active' | 'gone'> {
    const now = this.p.clock.now();
    const confirm = async (trx: Kysely<CoreDatabase>): Promise<'activated' | 'active' | 'gone'> => {
      const r = await trx
        .updateTable('totp_secrets')
        .set({ state: 'active', confirmed_at: now, last_used_at: now })
        .where('id', '=', id)
        .where('user_id', '=', userId)
        .where('state', '=', 'pending')
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) {
        const still = await trx.selectFrom('totp_secrets').select('id').where('id', '=', id).executeTakeFirst();
        return still ? 'active' : 'gone';
      }
      await this.audit(trx, AuditType.TOTP_SECRET_ACTIVATED, userId, { secret_id: id, kind: 'app' }, meta);
      const older = await trx.deleteFrom('totp_secrets').where('user_id', '=', userId).where('kind', '=', 'app').where('id', '!=', id).returning('id').execute();
      for (const o of older) await this.audit(trx, AuditType.TOTP_SECRET_REMOVED, userId, { secret_id: o.id, kind: 'app', reason: 'superseded' }, meta);
      return 'activated';
    };
    // In the caller's transaction when given (a verification's writes commit together).
    return within ? confirm(within) : this.db.transaction().execute(confirm);
  }

  async listApps(userId: number): Promise<TotpAppView[]> {
    const user = await this.db.selectFrom('verify_users').select(['totp_secret', 'created_at']).where('id', '=', userId).executeTakeFirst();
    if (!user) throw new UnknownUserError(`no user ${userId}`);
    const rows = await this.db
      .selectFrom('totp_secrets')
      .select(['id', 'label', 'state', 'created_at', 'confirmed_at', 'last_used_at'])
      .where('user_id', '=', userId)
      .where('kind', '=', 'app')
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .execute();
    const legacy: TotpAppView[] =
      user.totp_secret === null
        ? []
        : [{ id: LEGACY_SECRET_ID, label: null, state: 'active', created_at: user.created_at, confirmed_at: null, last_used_at: null, legacy: true }];
    return [...legacy, ...rows.map((r) => ({ ...r, legacy: false }))];
  }

  /** True when the app secret (or the legacy secret, id 'legacy') existed and is now gone. */
  async removeApp(userId: number, id: string, meta: AuditMeta): Promise<boolean> {
    const legacy = id === LEGACY_SECRET_ID;
    const removed = legacy
      ? Number((await this.db.updateTable('verify_users').set({ totp_secret: null }).where('id', '=', userId).where('totp_secret', 'is not', null).executeTakeFirst()).numUpdatedRows) === 1
      : Number((await this.db.deleteFrom('totp_secrets').where('id', '=', id).where('user_id', '=', userId).where('kind', '=', 'app').executeTakeFirst()).numDeletedRows) === 1;
    if (removed) await this.audit(this.db, AuditType.TOTP_SECRET_REMOVED, userId, { secret_id: id, kind: legacy ? 'legacy' : 'app' }, meta);
    return removed;
  }

  /**
   * Every secret a code of this user may match: each active secret, the legacy one and, when
   * `includePending`, each pending app secret younger than PENDING_APP_SECRET_TTL_MS. A ciphertext
   * that does not open (tampered, or copied from another row) is left out (fail closed) and logged
   * for the operator.
   */
  async candidates(user: VerifyUser, includePending: boolean, q: Kysely<CoreDatabase> = this.db): Promise<TotpCandidate[]> {
    const pendingSince = this.p.clock.now() - PENDING_APP_SECRET_TTL_MS;
    const { rows } = await (includePending ? candidatesWithPending : activeCandidates)(q, { userId: user.id, pendingSince });
    const out: TotpCandidate[] = [];
    const add = (c: Omit<TotpCandidate, 'secret'>, open: () => Uint8Array) => {
      try {
        out.push({ ...c, secret: open() });
      } catch {
        this.p.logger.error({ authyId: user.id, secretId: c.id }, 'TOTP secret does not decrypt for this user');
      }
    };
    for (const r of rows) {
      const factor = r.kind === 'device' ? 'authenticator' : 'totp_app';
      add({ id: r.id, factor, deviceId: r.device_id, pending: r.state === 'pending', lastUsedAt: r.last_used_at }, () =>
        this.p.secretBox.open(r.sealed, totpSecretAd(r.id)),
      );
    }
    const legacy = user.totpSecret;
    if (legacy !== null) {
      add({ id: LEGACY_SECRET_ID, factor: 'legacy', deviceId: null, pending: false, lastUsedAt: null }, () => this.p.secretBox.open(legacy, legacySecretAd(user.id)));
    }
    return out;
  }

  /** Record a use, at most once per LAST_USED_RESOLUTION_MS per secret. */
  async touch(c: TotpCandidate, now: number, q: Kysely<CoreDatabase> = this.db): Promise<void> {
    if (c.factor === 'legacy' || (c.lastUsedAt !== null && now - c.lastUsedAt < LAST_USED_RESOLUTION_MS)) return;
    await touchSecret(q, { id: c.id, now });
  }

  /** A new random secret and its row (the random id is known before the insert, for the sealing). */
  private fresh(userId: number, o: Pick<Insertable<CoreDatabase['totp_secrets']>, 'kind' | 'device_id' | 'label' | 'state'>) {
    const id = randomUUID();
    const secret = randomBytes(TOTP_SECRET_BYTES);
    const sealed = this.p.secretBox.seal(secret, totpSecretAd(id));
    const row = { ...o, id, user_id: userId, sealed, created_at: this.p.clock.now(), confirmed_at: null, last_used_at: null };
    return { row, secret };
  }

  /** The user's email (the default label), app name (the issuer) and legacy secret. */
  private async owner(db: Kysely<CoreDatabase>, userId: number): Promise<{ email: string; appName: string; legacy: string | null }> {
    const r = await db
      .selectFrom('verify_users')
      .innerJoin('apps', 'apps.id', 'verify_users.app_id')
      .select(['verify_users.email', 'verify_users.totp_secret', 'apps.name'])
      .where('verify_users.id', '=', userId)
      .executeTakeFirst();
    if (!r) throw new UnknownUserError(`no user ${userId}`);
    return { email: r.email, appName: r.name, legacy: r.totp_secret };
  }

  private audit(db: Kysely<CoreDatabase>, type: (typeof AuditType)['TOTP_SECRET_CREATED' | 'TOTP_SECRET_ACTIVATED' | 'TOTP_SECRET_REMOVED'], userId: number, detail: Record<string, string>, meta: AuditMeta) {
    return this.p.audit.record({ type, outcome: 'success', userRef: `authy:${userId}`, ip: meta.ip ?? null, userAgent: meta.userAgent ?? null, detail }, db);
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

const candidateColumns = ['id', 'kind', 'device_id', 'state', 'sealed', 'last_used_at'] as const;

/** A user's active secrets, and pending app secrets created since `pendingSince`; active first: should a pending secret ever give the same code, the active one is credited. */
const candidatesWithPending = prepared<CoreDatabase, Pick<Selectable<CoreDatabase['totp_secrets']>, (typeof candidateColumns)[number]>, { userId: number; pendingSince: number }>((db, slot) =>
  db
    .selectFrom('totp_secrets')
    .select(candidateColumns)
    .where('user_id', '=', slot('userId'))
    .where((eb) => eb.or([eb('state', '=', 'active'), eb('created_at', '>', slot('pendingSince'))]))
    .orderBy('state', 'asc')
    .orderBy('created_at', 'asc'),
);

const activeCandidates = prepared<CoreDatabase, Pick<Selectable<CoreDatabase['totp_secrets']>, (typeof candidateColumns)[number]>, { userId: number; pendingSince: number }>((db, slot) =>
  db.selectFrom('totp_secrets').select(candidateColumns).where('user_id', '=', slot('userId')).where('state', '=', 'active').orderBy('created_at', 'asc'),
);

const touchSecret = prepared<CoreDatabase, unknown, { id: string; now: number }>((db, slot) => db.updateTable('totp_secrets').set({ last_used_at: slot('now') }).where('id', '=', slot('id')));
