import type { Request, Response } from 'express';
import type { Kysely } from 'kysely';
import type { Clock } from '../platform/clock.js';
import type { Config } from '../platform/config.js';
import { publicIdOf, randomToken, sha256Hex } from '../platform/crypto.js';
import type { AppDatabase } from './schema.js';
import { cookiePolicy, readSessionCookie, type SessionClient } from './sessions.js';

/** How long "Don't ask again on this browser" lasts. */
export const REMEMBER_DAYS = 30;

export interface RememberedBrowser {
  /** Public id: derived from the token's hash, no way back to either. */
  id: string;
  ip: string | null;
  userAgent: string | null;
  createdAt: number;
  lastUsedAt: number;
  expiresAt: number;
}

const publicId = (tokenHash: string) => publicIdOf('remembered-id', tokenHash);

/**
 * Browsers that skip the second factor for REMEMBER_DAYS after a login that asked for it. The
 * browser holds a random token in an HttpOnly cookie; the server keeps its SHA-256, bound to one
 * account: the password is still asked, and the token counts only for the account that made it.
 * Every factor or password change, a reset, and "end all other sessions" forget them all.
 */
export class RememberedBrowsers {
  readonly cookieName: string;
  private readonly secure: boolean;

  constructor(
    private readonly db: Kysely<AppDatabase>,
    private readonly clock: Clock,
    config: Config,
  ) {
    const p = cookiePolicy(config);
    this.cookieName = `${p.name}-remember`;
    this.secure = p.secure;
  }

  /** Remember this browser for the account: the cookie's token (set it with `setCookie`). */
  async remember(userId: number, client: SessionClient, trx: Kysely<AppDatabase> = this.db): Promise<string> {
    const token = randomToken(32);
    const now = this.clock.now();
    await trx
      .insertInto('app_remembered_browsers')
      .values({ token_hash: sha256Hex(token), user_id: userId, ip: client.ip, user_agent: client.userAgent?.slice(0, 512) ?? null, created_at: now, last_used_at: now, expires_at: now + REMEMBER_DAYS * 86_400_000 })
      .execute();
    return token;
  }

  /** Whether the request's cookie is a live remembered browser of this account (its use is recorded). */
  async recognises(req: Request, userId: number, trx: Kysely<AppDatabase> = this.db): Promise<boolean> {
    const token = readSessionCookie(req, this.cookieName);
    if (!token) return false;
    const now = this.clock.now();
    const r = await trx
      .updateTable('app_remembered_browsers')
      .set({ last_used_at: now })
      .where('token_hash', '=', sha256Hex(token))
      .where('user_id', '=', userId)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async listFor(userId: number): Promise<RememberedBrowser[]> {
    const rows = await this.db
      .selectFrom('app_remembered_browsers')
      .selectAll()
      .where('user_id', '=', userId)
      .where('expires_at', '>', this.clock.now())
      .orderBy('last_used_at', 'desc')
      .execute();
    return rows.map((r) => ({ id: publicId(r.token_hash), ip: r.ip, userAgent: r.user_agent, createdAt: r.created_at, lastUsedAt: r.last_used_at, expiresAt: r.expires_at }));
  }

  /** Forget one of the account's browsers by its public id; false when it has none such. */
  async forget(userId: number, id: string): Promise<boolean> {
    const rows = await this.db.selectFrom('app_remembered_browsers').select('token_hash').where('user_id', '=', userId).execute();
    const hit = rows.find((r) => publicId(r.token_hash) === id);
    if (!hit) return false;
    await this.db.deleteFrom('app_remembered_browsers').where('token_hash', '=', hit.token_hash).execute();
    return true;
  }

  /** Forget every browser of the account; how many. */
  async forgetAll(userId: number, trx: Kysely<AppDatabase> = this.db): Promise<number> {
    const r = await trx.deleteFrom('app_remembered_browsers').where('user_id', '=', userId).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  setCookie(res: Response, token: string): void {
    res.cookie(this.cookieName, token, { httpOnly: true, sameSite: 'lax', path: '/', secure: this.secure, maxAge: REMEMBER_DAYS * 86_400_000 });
  }

  async sweep(): Promise<void> {
    await this.db.deleteFrom('app_remembered_browsers').where('expires_at', '<=', this.clock.now()).execute();
  }
}
