import type { Kysely, Selectable } from 'kysely';
import type { Clock } from '../platform/clock.js';
import { randomToken, sha256Hex } from '../platform/crypto.js';
import type { AppDatabase } from './schema.js';
import type { AppTables } from './schema.js';

export type PendingSignup = Selectable<AppTables['app_pending_signups']>;

/** A signup waits this long for its phone code (the service's code lives 10 minutes too). */
export const PENDING_SIGNUP_TTL_MS = 10 * 60 * 1000;
/** Cool-down between two phone codes for one pending signup. */
export const PHONE_CODE_COOL_DOWN_MS = 30 * 1000;
/** Wrong phone codes after which a pending signup ends. */
export const PENDING_SIGNUP_MAX_TRIES = 5;
/** Once the phone is proved, the signup waits this long for its email link to be opened. */
export const EMAIL_LINK_TTL_MS = 24 * 60 * 60 * 1000;

export interface PendingSignupInput {
  email: string;
  fullName: string;
  passwordHash: string;
  countryCode: string;
  region: string;
  phone: string;
  e164: string;
}

/**
 * Signups waiting for the phone code, then for the email link. Nothing about a user exists before
 * both are proved: the row is keyed by the SHA-256 of the signup cookie's token; the right phone
 * code moves it on once (a conditional UPDATE that also sets the link's token hash), and the link
 * takes it (a conditional DELETE by that hash), so one signup creates at most one account even
 * when requests race.
 */
export class PendingSignups {
  constructor(
    private readonly db: Kysely<AppDatabase>,
    private readonly clock: Clock,
  ) {}

  /** Store a pending signup; returns the cookie token (never stored). */
  async create(v: PendingSignupInput): Promise<{ token: string; row: PendingSignup }> {
    const token = randomToken(32);
    const now = this.clock.now();
    const row: PendingSignup = {
      token_hash: sha256Hex(token),
      email: v.email,
      full_name: v.fullName,
      password_hash: v.passwordHash,
      country_code: v.countryCode,
      region: v.region,
      phone: v.phone,
      e164: v.e164,
      code_tries: 0,
      last_sent_at: now,
      created_at: now,
      expires_at: now + PENDING_SIGNUP_TTL_MS,
      phone_verified_at: null,
      email_token_hash: null,
    };
    await this.db.insertInto('app_pending_signups').values(row).execute();
    return { token, row };
  }

  /** The live pending signup for a cookie token, or undefined. */
  async find(token: string): Promise<PendingSignup | undefined> {
    return this.db
      .selectFrom('app_pending_signups')
      .selectAll()
      .where('token_hash', '=', sha256Hex(token))
      .where('expires_at', '>', this.clock.now())
      .executeTakeFirst();
  }

  /** Reserve a code try before checking it; the tries used including this one, or undefined. */
  async reserveTry(tokenHash: string): Promise<number | undefined> {
    const row = await this.db
      .updateTable('app_pending_signups')
      .set((eb) => ({ code_tries: eb('code_tries', '+', 1) }))
      .where('token_hash', '=', tokenHash)
      .where('code_tries', '<', PENDING_SIGNUP_MAX_TRIES)
      .where('expires_at', '>', this.clock.now())
      .where('phone_verified_at', 'is', null)
      .returning('code_tries')
      .executeTakeFirst();
    return row?.code_tries;
  }

  /** Give back a try whose check never happened (the service was unreachable). */
  async refundTry(tokenHash: string): Promise<void> {
    await this.db
      .updateTable('app_pending_signups')
      .set((eb) => ({ code_tries: eb('code_tries', '-', 1) }))
      .where('token_hash', '=', tokenHash)
      .where('code_tries', '>', 0)
      .execute();
  }

  /**
   * The phone code was right: the signup now waits EMAIL_LINK_TTL_MS for its email link. Returns
   * the link's token (shown once, in the mail), or undefined for the caller that lost a race.
   */
  async phoneProved(tokenHash: string): Promise<string | undefined> {
    const token = randomToken(32);
    const now = this.clock.now();
    const r = await this.db
      .updateTable('app_pending_signups')
      .set({ phone_verified_at: now, email_token_hash: sha256Hex(token), expires_at: now + EMAIL_LINK_TTL_MS, last_sent_at: now })
      .where('token_hash', '=', tokenHash)
      .where('phone_verified_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1 ? token : undefined;
  }

  /** A new email link for a signup whose phone is proved (the old link stops working). */
  async newEmailToken(tokenHash: string): Promise<string | undefined> {
    const token = randomToken(32);
    const r = await this.db
      .updateTable('app_pending_signups')
      .set({ email_token_hash: sha256Hex(token) })
      .where('token_hash', '=', tokenHash)
      .where('phone_verified_at', 'is not', null)
      .where('expires_at', '>', this.clock.now())
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1 ? token : undefined;
  }

  /** The live signup an email link names (nothing is spent). */
  async byEmailToken(token: string): Promise<PendingSignup | undefined> {
    return this.db
      .selectFrom('app_pending_signups')
      .selectAll()
      .where('email_token_hash', '=', sha256Hex(token))
      .where('phone_verified_at', 'is not', null)
      .where('expires_at', '>', this.clock.now())
      .executeTakeFirst();
  }

  /** Use an email link: its signup, removed, once; undefined when unknown, used or expired. */
  async takeByEmailToken(token: string): Promise<PendingSignup | undefined> {
    return this.db
      .deleteFrom('app_pending_signups')
      .where('email_token_hash', '=', sha256Hex(token))
      .where('phone_verified_at', 'is not', null)
      .where('expires_at', '>', this.clock.now())
      .returningAll()
      .executeTakeFirst();
  }

  /** Start the resend cool-down: the time recorded, or the seconds left. */
  async startCoolDown(tokenHash: string): Promise<{ started: true; at: number } | { started: false; retryAfterSeconds: number }> {
    const now = this.clock.now();
    const r = await this.db
      .updateTable('app_pending_signups')
      .set({ last_sent_at: now })
      .where('token_hash', '=', tokenHash)
      .where('expires_at', '>', now)
      .where((eb) => eb.or([eb('last_sent_at', 'is', null), eb('last_sent_at', '<=', now - PHONE_CODE_COOL_DOWN_MS)]))
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 1) return { started: true, at: now };
    const row = await this.db.selectFrom('app_pending_signups').select('last_sent_at').where('token_hash', '=', tokenHash).executeTakeFirst();
    const last = row?.last_sent_at ?? now;
    return { started: false, retryAfterSeconds: Math.max(1, Math.ceil((last + PHONE_CODE_COOL_DOWN_MS - now) / 1000)) };
  }

  /** Forget the cool-down when the code could not be sent after all. */
  async clearCoolDown(tokenHash: string, at: number): Promise<void> {
    await this.db.updateTable('app_pending_signups').set({ last_sent_at: null }).where('token_hash', '=', tokenHash).where('last_sent_at', '=', at).execute();
  }

  async sweep(): Promise<void> {
    await this.db.deleteFrom('app_pending_signups').where('expires_at', '<=', this.clock.now()).execute();
  }
}
