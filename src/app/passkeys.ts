import { randomBytes } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { Clock } from '../platform/clock.js';
import type { DatabaseKind } from '../platform/db.js';
import { sha256Hex } from '../platform/crypto.js';
import type { AppDatabase, AppTables } from './schema.js';

export type PasskeyRow = Selectable<AppTables['app_passkeys']>;
export type ChallengePurpose = AppTables['app_webauthn_challenges']['purpose'];

/** A WebAuthn challenge lives this long (and the browser's ceremony is given as long). */
export const CHALLENGE_TTL_MS = 5 * 60 * 1000;
/** Passkeys one account may hold. */
export const MAX_PASSKEYS = 20;

/** A passkey as its owner sees it on the account page. */
export interface ListedPasskey {
  id: string;
  name: string;
  created_at: number;
  last_used_at: number | null;
  backed_up: boolean;
  device_type: 'singleDevice' | 'multiDevice';
  cloned: boolean;
}

export const listed = (r: PasskeyRow): ListedPasskey => ({
  id: r.id,
  name: r.name,
  created_at: r.created_at,
  last_used_at: r.last_used_at,
  backed_up: r.backed_up === 1,
  device_type: r.device_type,
  cloned: r.cloned_at !== null,
});

/** The outcome of recording an assertion's counter (see `recordUse`). */
export type UseOutcome = 'ok' | 'cloned' | 'refused' | 'stale';

/**
 * The accounts' passkeys and the WebAuthn challenges waiting for an answer. Every "once" is a
 * conditional statement: a challenge is consumed by the DELETE that removes it, a counter moves
 * only forwards by an UPDATE that checks it.
 */
export class Passkeys {
  constructor(
    private readonly db: Kysely<AppDatabase>,
    private readonly clock: Clock,
    private readonly kind: DatabaseKind,
  ) {}

  async listFor(userId: number): Promise<PasskeyRow[]> {
    return this.db.selectFrom('app_passkeys').selectAll().where('user_id', '=', userId).orderBy('created_at', 'asc').orderBy('id', 'asc').execute();
  }

  /** Whether the account has a passkey it may use (one not marked as copied). */
  async hasUsable(userId: number): Promise<boolean> {
    const row = await this.db.selectFrom('app_passkeys').select('id').where('user_id', '=', userId).where('cloned_at', 'is', null).limit(1).executeTakeFirst();
    return row !== undefined;
  }

  async byCredentialId(credentialId: string): Promise<PasskeyRow | undefined> {
    return this.db.selectFrom('app_passkeys').selectAll().where('credential_id', '=', credentialId).executeTakeFirst();
  }

  /** The account's WebAuthn user handle, made at first use (never its email or id). */
  async handleFor(userId: number): Promise<string> {
    const handle = randomBytes(32).toString('base64url');
    await this.db.insertInto('app_passkey_handles').values({ user_id: userId, handle }).onConflict((oc) => oc.column('user_id').doNothing()).execute();
    const row = await this.db.selectFrom('app_passkey_handles').select('handle').where('user_id', '=', userId).executeTakeFirstOrThrow();
    return row.handle;
  }

  /** The account a user handle names, if any. */
  async userOfHandle(handle: string): Promise<number | undefined> {
    const row = await this.db.selectFrom('app_passkey_handles').select('user_id').where('handle', '=', handle).executeTakeFirst();
    return row?.user_id;
  }

  /**
   * Add a passkey, unless the account holds MAX_PASSKEYS already (counted and inserted in one
   * transaction: PostgreSQL locks the user row, SQLite runs one write at a time); undefined then.
   * The unique index on credential_id refuses one already registered anywhere.
   */
  async add(p: Omit<PasskeyRow, 'id' | 'created_at' | 'last_used_at' | 'cloned_at'>): Promise<PasskeyRow | undefined> {
    const row: PasskeyRow = { ...p, id: `pk_${randomBytes(12).toString('base64url')}`, created_at: this.clock.now(), last_used_at: null, cloned_at: null };
    return this.db.transaction().execute(async (trx) => {
      if (this.kind === 'postgres') await trx.selectFrom('app_users').select('id').where('id', '=', p.user_id).forUpdate().executeTakeFirst();
      const { n } = await trx.selectFrom('app_passkeys').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', p.user_id).executeTakeFirstOrThrow();
      if (Number(n) >= MAX_PASSKEYS) return undefined;
      await trx.insertInto('app_passkeys').values(row).execute();
      return row;
    });
  }

  /** The authenticator verified its user for this passkey after the password: its user-verified sign-ins now count whole. */
  async markUserVerifying(id: string): Promise<void> {
    await this.db.updateTable('app_passkeys').set({ uv_initialized: 1 }).where('id', '=', id).where('cloned_at', 'is', null).execute();
  }

  /**
   * After a password reset or change, or "end all other sessions": no passkey signs in or steps up
   * alone until it is used again after the password (someone else may have added one).
   */
  async distrustAll(userId: number, trx: Kysely<AppDatabase> = this.db): Promise<void> {
    await trx.updateTable('app_passkeys').set({ uv_initialized: 0 }).where('user_id', '=', userId).execute();
  }

  async rename(userId: number, id: string, name: string): Promise<PasskeyRow | undefined> {
    await this.db.updateTable('app_passkeys').set({ name }).where('id', '=', id).where('user_id', '=', userId).execute();
    return this.db.selectFrom('app_passkeys').selectAll().where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
  }

  async remove(userId: number, id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('app_passkeys').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
    return Number(r.numDeletedRows) === 1;
  }

  /**
   * Record a verified assertion: its counter must move forwards (unless the authenticator keeps
   * none: 0 then 0), checked and written by one UPDATE so that two copies of one assertion cannot
   * both pass. A counter at or below the stored one marks the passkey as cloned ('cloned', once),
   * unless the last use is younger than a challenge ('stale': this answer only is refused); a
   * passkey marked before, or removed meanwhile, is 'refused'.
   */
  async recordUse(row: PasskeyRow, counter: number, backedUp: boolean): Promise<UseOutcome> {
    const now = this.clock.now();
    const r = await this.db
      .updateTable('app_passkeys')
      .set({ counter, last_used_at: now, backed_up: backedUp ? 1 : 0 })
      .where('id', '=', row.id)
      .where('cloned_at', 'is', null)
      .where('counter', counter === 0 ? '=' : '<', counter)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 1) return 'ok';
    // Two genuine ceremonies answered out of order (two tabs) also go back, by a little and
    // within a challenge's life of the last use: only this answer is refused then.
    const last = await this.db.selectFrom('app_passkeys').select(['last_used_at', 'cloned_at']).where('id', '=', row.id).executeTakeFirst();
    if (!last || last.cloned_at !== null) return 'refused';
    if (counter > 0 && last.last_used_at !== null && now - last.last_used_at < CHALLENGE_TTL_MS) return 'stale';
    const marked = await this.db.updateTable('app_passkeys').set({ cloned_at: now }).where('id', '=', row.id).where('cloned_at', 'is', null).executeTakeFirst();
    return Number(marked.numUpdatedRows) === 1 ? 'cloned' : 'refused';
  }

  /** Keep a challenge (its SHA-256) for `purpose`, bound to `bindingHash`, for CHALLENGE_TTL_MS. */
  async issueChallenge(c: { challenge: string; purpose: ChallengePurpose; bindingHash: string; userId: number | null; attemptId: string | null }): Promise<void> {
    const now = this.clock.now();
    await this.db.transaction().execute(async (trx) => {
      // One waiting challenge per session and purpose: asking again replaces the last one. A
      // sign-in browser may wait on two (the email field's autofill and the button).
      if (c.purpose !== 'signin') await trx.deleteFrom('app_webauthn_challenges').where('binding_hash', '=', c.bindingHash).where('purpose', '=', c.purpose).execute();
      await trx
        .insertInto('app_webauthn_challenges')
        .values({ challenge_hash: sha256Hex(c.challenge), purpose: c.purpose, binding_hash: c.bindingHash, user_id: c.userId, attempt_id: c.attemptId, created_at: now, expires_at: now + CHALLENGE_TTL_MS })
        .execute();
    });
  }

  /**
   * Consume a challenge: true once, for the request whose DELETE removed the live row issued for
   * this purpose, binding, user and attempt; false for a replay, a stranger's or an expired one.
   */
  async consumeChallenge(c: { challenge: string; purpose: ChallengePurpose; bindingHash: string; userId: number | null; attemptId: string | null }): Promise<boolean> {
    let q = this.db
      .deleteFrom('app_webauthn_challenges')
      .where('challenge_hash', '=', sha256Hex(c.challenge))
      .where('purpose', '=', c.purpose)
      .where('binding_hash', '=', c.bindingHash)
      .where('expires_at', '>', this.clock.now());
    q = c.userId === null ? q.where('user_id', 'is', null) : q.where('user_id', '=', c.userId);
    q = c.attemptId === null ? q.where('attempt_id', 'is', null) : q.where('attempt_id', '=', c.attemptId);
    const r = await q.executeTakeFirst();
    return Number(r.numDeletedRows) === 1;
  }

  async sweep(): Promise<void> {
    await this.db.deleteFrom('app_webauthn_challenges').where('expires_at', '<=', this.clock.now()).execute();
  }
}
