import type { Request, Response } from 'express';
import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Clock } from '../platform/clock.js';
import type { Config } from '../platform/config.js';
import { publicIdOf, randomToken, sha256Hex } from '../platform/crypto.js';
import { changedRows, firstRow, prepared } from '../platform/prepared-query.js';
import type { AppDatabase } from './schema.js';

export interface Session {
  tokenHash: string;
  userId: number;
  state: 'half' | 'full';
  /**
   * The attempt of this session's second factor: a half session's login, or a full session's
   * step-up (re-authentication) in progress.
   */
  loginAttemptId: string | null;
  createdAt: number;
  expiresAt: number;
  /** When the password and a second factor were last proved in this session (null: never). */
  reauthAt: number | null;
  /** The passkey the session was signed in with instead of the password, if any. */
  passkeyId?: string | null;
}

/** Where a session was started from, as the account page shows it. */
export interface SessionClient {
  ip: string;
  userAgent: string | undefined;
}

/** A session as its account's owner sees it in the list. */
export interface ListedSession {
  /** Public id: derived from the token's hash, and no way back to the token or its hash. */
  id: string;
  tokenHash: string;
  ip: string | null;
  userAgent: string | null;
  createdAt: number;
  lastSeenAt: number;
}

/** The session's public id (what the account page and DELETE /user/sessions/{id} name it by). */
export const sessionPublicId = (tokenHash: string): string => publicIdOf('session-id', tokenHash);

/** A factor change needs the password and a second factor proved at most this long ago. */
export const REAUTH_WINDOW_MS = 5 * 60 * 1000;

/** Cookie name and attributes: `__Host-` prefix and Secure in production or behind https. */
export function cookiePolicy(config: Config): { name: string; secure: boolean } {
  const secure = config.production || config.PUBLIC_URL.startsWith('https:');
  return { name: secure ? '__Host-twofold' : 'twofold', secure };
}

/** The cookie of a pending signup (until its phone code is entered); same attributes. */
export function signupCookiePolicy(config: Config): { name: string; secure: boolean } {
  const { name, secure } = cookiePolicy(config);
  return { name: `${name}-signup`, secure };
}

/** The session token from the Cookie header, or undefined. */
export function readSessionCookie(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    if (part.slice(0, i).trim() !== name) continue;
    const v = part.slice(i + 1).trim();
    // Tokens are 43 base64url characters; anything else cannot be ours.
    return /^[A-Za-z0-9_-]{43}$/.test(v) ? v : undefined;
  }
  return undefined;
}

/**
 * Server-side sessions: random 32-byte tokens, only their SHA-256 stored. Idle and absolute
 * timeouts are checked on every read. Rotation deletes the old row and inserts a new one, so an
 * old token stops working at once.
 */
export class SessionStore {
  constructor(
    private readonly db: Kysely<AppDatabase>,
    private readonly clock: Clock,
    private readonly config: Config,
  ) {}

  /** Create a session; returns the cookie token (shown once, never stored). */
  async create(userId: number, state: 'half' | 'full', loginAttemptId: string | null, client: SessionClient, trx: Kysely<AppDatabase> = this.db, proof = state === 'full', passkeyId: string | null = null): Promise<string> {
    const token = randomToken(32);
    const now = this.clock.now();
    // A full session is born of both factors (login or signup): that is a fresh proof, unless
    // the second factor was skipped (a remembered browser: `proof` false).
    await insertSession(trx, {
      token_hash: sha256Hex(token),
      user_id: userId,
      state,
      login_attempt_id: loginAttemptId,
      passkey_id: passkeyId,
      created_at: now,
      last_seen_at: now,
      expires_at: now + this.config.SESSION_ABSOLUTE_SECONDS * 1000,
      reauth_at: proof ? now : null,
      ip: client.ip,
      user_agent: client.userAgent?.slice(0, 512) ?? null,
    });
    return token;
  }

  /** The live session for `token`, touching its idle timer; expired rows are deleted. */
  async find(token: string): Promise<Session | undefined> {
    const tokenHash = sha256Hex(token);
    const row = await firstRow(sessionByHash(this.db, { tokenHash }));
    if (!row) return undefined;
    const now = this.clock.now();
    if (now >= row.expires_at || now - row.last_seen_at >= this.config.SESSION_IDLE_SECONDS * 1000) {
      await this.delete(tokenHash);
      return undefined;
    }
    // Touch at most every few seconds (and at least ten times per idle period, so that a short
    // configured idle timeout still restarts at every use).
    if (now - row.last_seen_at > Math.min(5000, (this.config.SESSION_IDLE_SECONDS * 1000) / 10)) {
      await touchSession(this.db, { tokenHash, now });
    }
    return {
      tokenHash,
      userId: row.user_id,
      state: row.state,
      loginAttemptId: row.login_attempt_id,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
      reauthAt: row.reauth_at,
      passkeyId: row.passkey_id,
    };
  }

  /** Until when the session's last proof of both factors lets it change factors (null: now too late). */
  reauthUntil(s: Session): number | null {
    if (s.state !== 'full' || s.reauthAt === null) return null;
    const until = s.reauthAt + REAUTH_WINDOW_MS;
    return until > this.clock.now() ? until : null;
  }

  /** Point a full session at a new step-up attempt (any earlier one is abandoned). */
  async startReauth(s: Session, attemptId: string): Promise<boolean> {
    const r = await this.db
      .updateTable('app_sessions')
      .set({ login_attempt_id: attemptId })
      .where('token_hash', '=', s.tokenHash)
      .where('state', '=', 'full')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /**
   * The step-up `attemptId` succeeded: record the proof, once (the session must still point at
   * that attempt). Returns the new proof time, or undefined when another request got there first.
   */
  async completeReauth(s: Session, attemptId: string, trx: Kysely<AppDatabase> = this.db): Promise<number | undefined> {
    const now = this.clock.now();
    const r = await trx
      .updateTable('app_sessions')
      .set({ reauth_at: now, login_attempt_id: null })
      .where('token_hash', '=', s.tokenHash)
      .where('state', '=', 'full')
      .where('login_attempt_id', '=', attemptId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1 ? now : undefined;
  }

  /**
   * A full session proved both factors at once (a passkey that verified its user): record the
   * proof and drop any step-up attempt in progress. Returns the proof time, or undefined when the
   * session is gone.
   */
  async recordReauth(s: Session): Promise<number | undefined> {
    const now = this.clock.now();
    const r = await this.db.updateTable('app_sessions').set({ reauth_at: now, login_attempt_id: null }).where('token_hash', '=', s.tokenHash).where('state', '=', 'full').executeTakeFirst();
    return Number(r.numUpdatedRows) === 1 ? now : undefined;
  }

  async delete(tokenHash: string, trx: Kysely<AppDatabase> = this.db): Promise<number> {
    const r = await trx.deleteFrom('app_sessions').where('token_hash', '=', tokenHash).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** End every session of an account (a password reset), or every one but `keep`; how many ended. */
  async endAllFor(userId: number, trx: Kysely<AppDatabase> = this.db, keep?: string): Promise<number> {
    let q = trx.deleteFrom('app_sessions').where('user_id', '=', userId);
    if (keep !== undefined) q = q.where('token_hash', '!=', keep);
    const r = await q.executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** End the sessions (but `keep`) that were signed in with passkey `passkeyId`; how many ended. */
  async endSignedInWith(passkeyId: string, keep: string): Promise<number> {
    const r = await this.db.deleteFrom('app_sessions').where('passkey_id', '=', passkeyId).where('token_hash', '!=', keep).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** The account's live logged-in sessions, most recently used first. */
  async listFor(userId: number): Promise<ListedSession[]> {
    const now = this.clock.now();
    const rows = await this.db
      .selectFrom('app_sessions')
      .select(['token_hash', 'ip', 'user_agent', 'created_at', 'last_seen_at'])
      .where('user_id', '=', userId)
      .where('state', '=', 'full')
      .where('expires_at', '>', now)
      .where('last_seen_at', '>', now - this.config.SESSION_IDLE_SECONDS * 1000)
      .orderBy('last_seen_at', 'desc')
      .execute();
    return rows.map((r) => ({ id: sessionPublicId(r.token_hash), tokenHash: r.token_hash, ip: r.ip, userAgent: r.user_agent, createdAt: r.created_at, lastSeenAt: r.last_seen_at }));
  }

  /**
   * Replace a half session by a full one in one transaction (`outer`, when the caller has one). The delete is the "once" guard:
   * when two requests race, only the one that deleted the row gets a new token.
   */
  async promote(old: Session, client: SessionClient, outer?: Kysely<AppDatabase>): Promise<string | undefined> {
    const run = async (trx: Kysely<AppDatabase>) => {
      if ((await changedRows(deleteHalfSession(trx, { tokenHash: old.tokenHash }))) !== 1) return undefined;
      return this.create(old.userId, 'full', null, client, trx, true, old.passkeyId ?? null);
    };
    // Inside the caller's transaction (with the attempt's completion), or in one of its own.
    return outer ? run(outer) : this.db.transaction().execute(run);
  }

  setCookie(res: Response, token: string): void {
    const { name, secure } = cookiePolicy(this.config);
    res.cookie(name, token, {
      httpOnly: true,
      sameSite: 'lax',
      path: '/',
      secure,
      maxAge: this.config.SESSION_ABSOLUTE_SECONDS * 1000,
    });
  }

  clearCookie(res: Response): void {
    const { name, secure } = cookiePolicy(this.config);
    res.clearCookie(name, { httpOnly: true, sameSite: 'lax', path: '/', secure });
  }

  /** Remove sessions past their absolute end (called periodically). */
  async sweep(): Promise<void> {
    await this.db.deleteFrom('app_sessions').where('expires_at', '<=', this.clock.now()).execute();
  }
}

// Every request of a signed-in browser reads its session: compiled once (src/platform/prepared-query.ts).
const sessionByHash = prepared<AppDatabase, Selectable<AppDatabase['app_sessions']>, { tokenHash: string }>((db, slot) =>
  db.selectFrom('app_sessions').selectAll().where('token_hash', '=', slot('tokenHash')),
);

const touchSession = prepared<AppDatabase, unknown, { tokenHash: string; now: number }>((db, slot) =>
  db.updateTable('app_sessions').set({ last_seen_at: slot('now') }).where('token_hash', '=', slot('tokenHash')),
);

type SessionRow = Insertable<AppDatabase['app_sessions']>;
const insertSession = prepared<AppDatabase, unknown, Required<SessionRow>>((db, slot) =>
  db.insertInto('app_sessions').values({
    token_hash: slot('token_hash'),
    user_id: slot('user_id'),
    state: slot('state'),
    login_attempt_id: slot('login_attempt_id'),
    passkey_id: slot('passkey_id'),
    created_at: slot('created_at'),
    last_seen_at: slot('last_seen_at'),
    expires_at: slot('expires_at'),
    reauth_at: slot('reauth_at'),
    ip: slot('ip'),
    user_agent: slot('user_agent'),
  }),
);

const deleteHalfSession = prepared<AppDatabase, unknown, { tokenHash: string }>((db, slot) =>
  db.deleteFrom('app_sessions').where('token_hash', '=', slot('tokenHash')).where('state', '=', 'half'),
);
