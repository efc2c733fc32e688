import type { Request, Response } from 'express';
import type { Kysely } from 'kysely';
import type { Clock } from '../platform/clock.js';
import type { Config } from '../platform/config.js';
import { clientNetwork } from '../platform/client-network.js';
import { randomToken, sha256Hex } from '../platform/crypto.js';
import { firstRow, prepared } from '../platform/prepared-query.js';
import type { LimiterBatch, LimiterFactory } from '../platform/rate-limit.js';
import type { AppDatabase } from './schema.js';
import { cookiePolicy, readSessionCookie } from './sessions.js';

/** Browsers remembered per account; the least recently used beyond this are forgotten. */
export const KNOWN_BROWSERS_PER_USER = 20;
/** The known-browser cookie lives this long (the most browsers keep a cookie). */
const BROWSER_COOKIE_DAYS = 400;
/** A browser with no login to the account for this long is known no more. */
export const KNOWN_BROWSER_DAYS = 90;
/** Account-wide failures are counted over this window (a success clears them at once). */
const ACCOUNT_WINDOW_SECONDS = 30 * 86_400;
/** Past the free tries, each further try from an unknown client waits this long, doubling every 10 failures. */
const FIRST_DELAY_SECONDS = 60;
const MAX_DELAY_SECONDS = 2 * 3600;

/** A refusal: the HTTP layer answers 429 with `Retry-After`. */
export interface PasswordRefusal {
  retryAfterSeconds: number;
  reason: 'ip' | 'client' | 'account_delay' | 'account_ceiling';
}

/** Where a password try comes from: a browser that logged in to the account before, or an address. */
export interface PasswordClient {
  known: boolean;
  key: string;
  /** The client's network (see clientNetwork), whether or not its browser is known. */
  network: string;
}

/**
 * The wait before the next try from an unknown client after `failures` consecutive failures on
 * the account: none for the first `free`, then 1 minute, doubling every 10 failures, at most 2 hours.
 */
export function accountDelaySeconds(failures: number, free: number): number {
  if (failures < free) return 0;
  return Math.min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * 2 ** Math.floor((failures - free) / 10));
}

/**
 * Password throttling that an attacker without the password cannot turn against the owner.
 *
 * - Per account *and client* (a known browser, else the IP address): `LOGIN_PER_ACCOUNT_LIMIT`
 *   tries per 15 minutes, then 15 minutes' wait. Guessing from one place does not block another.
 * - Per IP (unknown clients only): `LOGIN_PER_IP_LIMIT` per 15 minutes and 3× that per day.
 * - Per account, across all unknown clients: consecutive failures (a correct password clears
 *   them). The first 2 × `LOGIN_PER_ACCOUNT_LIMIT` are free; then every try waits a growing delay
 *   (1 minute, doubling every 10 failures, at most 2 hours); at `LOGIN_ACCOUNT_CEILING` (NIST
 *   800-63B: at most 100) unknown clients are refused until the password is proved from a known
 *   browser or the 30-day window ends.
 * - A known browser is one that completed a login to this account within KNOWN_BROWSER_DAYS
 *   (cookie token whose SHA-256 is stored per account): it meets its own per-client window, and
 *   after 2 × `LOGIN_PER_ACCOUNT_LIMIT` consecutive failures it counts as unknown until it
 *   logs in again.
 * - Addresses count by network: an IPv4 address, an IPv6 /64.
 *
 * Every count is taken before the password is checked, so a concurrent burst cannot slip past.
 * Counters are keyed by the typed email, whether or not an account has it: the answers for an
 * absent account are the same.
 */
export class PasswordThrottle {
  private readonly ipShort;
  private readonly ipLong;
  private readonly perClient;
  private readonly accountFailures;
  private readonly accountGate;
  private readonly knownFailures;
  private readonly free: number;
  private readonly cookieName: string;
  private readonly secure: boolean;

  constructor(
    private readonly limits: LimiterFactory,
    private readonly config: Config,
    private readonly db: Kysely<AppDatabase>,
    private readonly clock: Clock,
  ) {
    const perAccount = config.LOGIN_PER_ACCOUNT_LIMIT;
    this.ipShort = limits.create({ name: 'app:login:ip', points: config.LOGIN_PER_IP_LIMIT, durationSeconds: 15 * 60, blockSeconds: 15 * 60 });
    this.ipLong = limits.create({ name: 'app:login:ip:day', points: config.LOGIN_PER_IP_LIMIT * 3, durationSeconds: 86_400, blockSeconds: 86_400 });
    this.perClient = limits.create({ name: 'app:login:client', points: perAccount, durationSeconds: 15 * 60, blockSeconds: 15 * 60 });
    this.accountFailures = limits.create({ name: 'app:login:acct:failures', points: config.LOGIN_ACCOUNT_CEILING, durationSeconds: ACCOUNT_WINDOW_SECONDS });
    this.accountGate = limits.create({ name: 'app:login:acct:gate', points: 1, durationSeconds: FIRST_DELAY_SECONDS });
    this.free = Math.min(2 * perAccount, config.LOGIN_ACCOUNT_CEILING);
    this.knownFailures = limits.create({ name: 'app:login:known:failures', points: this.free, durationSeconds: ACCOUNT_WINDOW_SECONDS });
    const policy = cookiePolicy(config);
    this.cookieName = `${policy.name}-browser`;
    this.secure = policy.secure;
  }

  /** The client of a try at `userId`'s password: its known browser, else its address. */
  async client(req: Request, ip: string, userId: number | undefined): Promise<PasswordClient> {
    const network = clientNetwork(ip);
    const token = readSessionCookie(req, this.cookieName);
    if (token && userId !== undefined) {
      const hash = sha256Hex(token);
      const row = await this.db
        .selectFrom('app_known_browsers')
        .select('user_id')
        .where('user_id', '=', userId)
        .where('browser_hash', '=', hash)
        .where('last_login_at', '>', this.clock.now() - KNOWN_BROWSER_DAYS * 86_400_000)
        .executeTakeFirst();
      if (row) return { known: true, key: `b:${hash}`, network };
    }
    return { known: false, key: `ip:${network}`, network };
  }

  /**
   * Count one try at `email`'s password from `client`; a refusal says how long to wait.
   * `ipLimits`: false where the per-IP windows do not apply (a logged-in session's step-up).
   */
  async consume(email: string, given: PasswordClient, o: { ipLimits: boolean }): Promise<PasswordRefusal | undefined> {
    // Every count of a try commits together (one write instead of up to five).
    return this.limits.batch((b) => this.count(b, email, given, o));
  }

  private async count(b: LimiterBatch, email: string, given: PasswordClient, o: { ipLimits: boolean }): Promise<PasswordRefusal | undefined> {
    let client = given;
    if (client.known) {
      // A known browser's own consecutive failures: past the free tries it is known no more (a
      // copied cookie must not be a guessing channel that skips the account-wide ceiling).
      const known = this.knownFailures.in(b);
      const k = await known.consume(`${email}|${client.key}`);
      if (!k.allowed) {
        await known.reward(`${email}|${client.key}`);
        client = { known: false, key: `ip:${client.network}`, network: client.network };
      }
    }
    if (!client.known && o.ipLimits) {
      // The day-long counter first: every try counts toward it, also those the 15-minute window
      // then refuses, so a day block is reported as soon as it applies.
      for (const l of [this.ipLong, this.ipShort]) {
        const r = await l.in(b).consume(client.key);
        if (!r.allowed) return { retryAfterSeconds: r.retryAfterSeconds, reason: 'ip' };
      }
    }
    const c = await this.perClient.in(b).consume(`${email}|${client.key}`);
    if (!c.allowed) return { retryAfterSeconds: c.retryAfterSeconds, reason: 'client' };
    if (client.known) return undefined;
    // Account-wide, unknown clients: counted first (one atomic increment, so a burst gets
    // distinct counts), then past the free tries one try per delay (the gate lets one through
    // per window, whoever asks at once); a try the gate refuses is given back.
    const failures = this.accountFailures.in(b);
    const f = await failures.consume(email);
    if (!f.allowed) {
      // Given back too, so that the count stays the number of passwords actually checked.
      await failures.reward(email);
      return { retryAfterSeconds: f.retryAfterSeconds, reason: 'account_ceiling' };
    }
    const before = this.config.LOGIN_ACCOUNT_CEILING - f.remaining - 1;
    const delay = accountDelaySeconds(before, this.free);
    if (delay > 0) {
      const g = await this.accountGate.in(b).consume(email, 1, { durationSeconds: delay });
      if (!g.allowed) {
        await failures.reward(email);
        return { retryAfterSeconds: g.retryAfterSeconds, reason: 'account_delay' };
      }
    }
    return undefined;
  }

  /** A correct password: the account's and this browser's consecutive failures start again from zero. */
  async succeeded(email: string, client: PasswordClient): Promise<void> {
    await this.limits.batch(async (b) => {
      await this.accountFailures.in(b).reset(email);
      await this.accountGate.in(b).reset(email);
      if (client.known) await this.knownFailures.in(b).reset(`${email}|${client.key}`);
    });
  }

  /** This browser's token, setting its cookie when it has none (see `remember`). */
  private browserToken(req: Request, res: Response): string {
    let token = readSessionCookie(req, this.cookieName);
    if (!token) {
      token = randomToken();
      res.cookie(this.cookieName, token, { httpOnly: true, sameSite: 'lax', path: '/', secure: this.secure, maxAge: BROWSER_COOKIE_DAYS * 86_400_000 });
    }
    return token;
  }

  /**
   * A login to `userId` completed in this browser: remember it, and forget the account's least
   * recently used browsers beyond KNOWN_BROWSERS_PER_USER.
   */
  async remember(req: Request, res: Response, userId: number, trx: Kysely<AppDatabase> = this.db): Promise<{ newToAccount: boolean }> {
    const hash = sha256Hex(this.browserToken(req, res));
    const now = this.clock.now();
    const row = await firstRow(rememberBrowser(trx, { userId, hash, now }));
    // Only a browser new to the account can take the list past its size.
    if (row?.created_at !== now) return { newToAccount: false };
    // Counting is an index range; the prune's sort only runs when there is something to forget.
    const known = await firstRow(countBrowsers(trx, { userId }));
    if (Number(known?.n ?? 0) > KNOWN_BROWSERS_PER_USER) await forgetOldBrowsers(trx, { userId });
    return { newToAccount: true };
  }
}

// A completed login's statements, compiled once (src/platform/prepared-query.ts).
const rememberBrowser = prepared<AppDatabase, { created_at: number }, { userId: number; hash: string; now: number }>((db, slot) =>
  db
    .insertInto('app_known_browsers')
    .values({ user_id: slot('userId'), browser_hash: slot('hash'), created_at: slot('now'), last_login_at: slot('now') })
    .onConflict((oc) => oc.columns(['user_id', 'browser_hash']).doUpdateSet({ last_login_at: slot('now') }))
    .returning('created_at'),
);

const countBrowsers = prepared<AppDatabase, { n: number | string | bigint }, { userId: number }>((db, slot) =>
  db.selectFrom('app_known_browsers').select((eb) => eb.fn.countAll().as('n')).where('user_id', '=', slot('userId')),
);

const forgetOldBrowsers = prepared<AppDatabase, unknown, { userId: number }>((db, slot) =>
  db
    .deleteFrom('app_known_browsers')
    .where('user_id', '=', slot('userId'))
    .where('browser_hash', 'not in', db.selectFrom('app_known_browsers').select('browser_hash').where('user_id', '=', slot('userId')).orderBy('last_login_at', 'desc').orderBy('browser_hash').limit(KNOWN_BROWSERS_PER_USER)),
);
