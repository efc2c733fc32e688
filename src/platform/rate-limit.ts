import type { Redis } from 'ioredis';
import {
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRedis,
  RateLimiterRes,
  RateLimiterSQLite,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import type SqliteDatabase from 'better-sqlite3';
import type { Kysely } from 'kysely';
import type { Db } from './db.js';
import type { PlatformTables } from './schema.js';
import { sha256Hex } from './crypto.js';
import { cachingStatements } from './sqlite-statements.js';

type SqliteHandle = SqliteDatabase.Database;
/** What RateLimiterSQLite ('better-sqlite3') calls on its client. */
type LimiterSqliteClient = Pick<SqliteHandle, 'prepare' | 'transaction'>;

export interface LimitOptions {
  /** Unique name of this counter, e.g. "sms:phone". */
  name: string;
  /** Allowed events per window. */
  points: number;
  /** Window length in seconds. */
  durationSeconds: number;
  /** When exceeded, stay blocked this long (seconds); default: until the window ends. */
  blockSeconds?: number;
}

export interface Limiter {
  /**
   * Count one event for `key`; resolves with the outcome, never throws for "over limit".
   * `durationSeconds` sets the window this event opens (when it opens one) instead of the limiter's.
   */
  consume(key: string, points?: number, o?: { durationSeconds?: number }): Promise<{ allowed: boolean; retryAfterSeconds: number; remaining: number }>;
  /** Current state without counting. */
  peek(key: string): Promise<{ consumed: number; retryAfterSeconds: number }>;
  /** Give back `points` counted for `key` (an event that was refused further on). */
  reward(key: string, points?: number): Promise<void>;
  reset(key: string): Promise<void>;
  /** The same counter, for calls made inside `batch` (they run in its transaction). */
  in(batch: LimiterBatch): Limiter;
}

/** What `LimiterFactory.batch` hands its work: pass it to `Limiter.in`. */
export interface LimiterBatch {
  /** Run a limiter call in the batch; refused once the batch is over. */
  run<T>(call: () => Promise<T>): Promise<T>;
}

/**
 * Counters live in the shared store (Redis when configured, else the database), never only in
 * process memory, so every instance sees the same counts and a restart does not reset them.
 */
export class LimiterFactory {
  /** ioredis is loaded only when Redis is configured (it costs a process ~25 MB and 0.1 s). */
  static async open(db: Db | undefined, redisUrl?: string, redisPrefix = 'twofold'): Promise<LimiterFactory> {
    if (!redisUrl) return new LimiterFactory(db, undefined, redisPrefix);
    const { Redis } = await import('ioredis');
    const redis = new Redis(redisUrl, { enableOfflineQueue: true, maxRetriesPerRequest: 2 });
    redis.on('error', () => {});
    return new LimiterFactory(db, redis, redisPrefix);
  }

  constructor(
    private readonly db: Db | undefined,
    private readonly redis?: Redis,
    /** Prefix of the counters' keys in Redis. */
    private readonly redisPrefix = 'twofold',
  ) {}

  private limiterSqlite: LimiterSqliteClient | undefined;

  /**
   * The SQLite handle as the limiters use it, with their statements kept: the library prepares
   * each of its few statements anew at every count (a login counts five to seven times), and
   * preparing cost as much as running.
   */
  private sqliteClient(sqlite: SqliteHandle): LimiterSqliteClient {
    if (!this.limiterSqlite) {
      const statements = cachingStatements(sqlite, 50);
      this.limiterSqlite = { prepare: (source: string) => statements.prepare(source), transaction: (fn) => sqlite.transaction(fn) };
    }
    return this.limiterSqlite;
  }

  /**
   * Each limiter call on SQLite, holding Kysely's one connection for its whole length. The limiters
   * write through the same handle; a count made while a request's transaction was open on it
   * would join that transaction and vanish when it rolled back (threat test `limiter-rollback`).
   * Holding the connection, no transaction can open in the middle of a call either (the library's
   * count and its block are two writes). A call waits at most CONNECTION_WAIT_MS for the
   * connection, then fails as a busy database (503): a limiter call made inside a transaction
   * callback would otherwise wait for itself.
   */
  private serialized(): (<T>(call: (conn: Kysely<PlatformTables>) => Promise<T>) => Promise<T>) | undefined {
    const db = this.db;
    if (this.redis || db?.raw.kind !== 'sqlite') return undefined;
    return <T>(call: (conn: Kysely<PlatformTables>) => Promise<T>) =>
      new Promise<T>((resolve, reject) => {
        let gaveUp = false;
        const timer = setTimeout(() => {
          gaveUp = true;
          reject(busy('rate limit store busy: the connection stayed in a transaction'));
        }, CONNECTION_WAIT_MS);
        // Settled once the connection is given back: with SQLite's group commit, that is once
        // the count is committed (a count a failed commit took back fails the call).
        db.db
          .connection()
          .execute(async (conn) => {
            if (gaveUp) return undefined;
            clearTimeout(timer);
            return { value: await call(conn) };
          })
          .then(
            (done) => {
              if (done) resolve(done.value);
            },
            (e: unknown) => {
              clearTimeout(timer);
              reject(e);
            },
          );
      });
  }

  create(o: LimitOptions): Limiter {
    const common = { keyPrefix: o.name, points: o.points, duration: o.durationSeconds, blockDuration: o.blockSeconds ?? 0 };
    let rl: RateLimiterAbstract;
    if (this.redis) {
      rl = new RateLimiterRedis({ ...common, keyPrefix: `${this.redisPrefix}:rl:${o.name}`, storeClient: this.redis, useRedisPackage: false });
    } else if (this.db) {
      // The table comes from migration 007 (under the migration lock), so the library never
      // creates it: several instances starting at once would race on that.
      const raw = this.db.raw;
      rl =
        raw.kind === 'postgres'
          ? new RateLimiterPostgres({ ...common, storeClient: raw.pool, storeType: 'pool', tableName: 'rate_limits', tableCreated: true })
          : new RateLimiterSQLite({ ...common, storeClient: this.sqliteClient(raw.sqlite), storeType: 'better-sqlite3', tableName: 'rate_limits', tableCreated: true });
    } else {
      rl = new RateLimiterMemory(common);
    }
    const serial = this.serialized();
    const view = (run: <T>(call: () => Promise<T>) => Promise<T>): Limiter => ({
      async consume(key, points = 1, opts) {
        try {
          const r = await run(() => rl.consume(storedKey(key), points, opts?.durationSeconds === undefined ? {} : { customDuration: opts.durationSeconds }));
          return { allowed: true, retryAfterSeconds: 0, remaining: r.remainingPoints };
        } catch (e) {
          if (e instanceof RateLimiterRes) {
            return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(e.msBeforeNext / 1000)), remaining: 0 };
          }
          throw e;
        }
      },
      async peek(key) {
        const r = await run(() => rl.get(storedKey(key)));
        return { consumed: r?.consumedPoints ?? 0, retryAfterSeconds: r ? Math.ceil(r.msBeforeNext / 1000) : 0 };
      },
      async reward(key, points = 1) {
        await run(() => rl.reward(storedKey(key), points));
      },
      async reset(key) {
        await run(() => rl.delete(storedKey(key)));
      },
      in: (batch) => view((call) => batch.run(call)),
    });
    return view((call) => (serial ? serial(call) : call()));
  }

  /**
   * Several limiter calls as one write: on SQLite they run in one transaction, holding the
   * connection throughout (one commit instead of one per call; no other count comes between
   * them). `work` makes its calls through `limiter.in(batch)` and nothing else on the database:
   * a query through Kysely would wait for the connection the batch holds (the batch then fails
   * as busy after CONNECTION_WAIT_MS). A refusal is an answer, not an error, so it commits; a
   * thrown error rolls the batch's counts back and fails the request (no answer is given on
   * counts that were taken back). Elsewhere (PostgreSQL, Redis) each call stands alone, as
   * outside a batch.
   */
  async batch<T>(work: (batch: LimiterBatch) => Promise<T>): Promise<T> {
    const serial = this.serialized();
    if (!serial) return work({ run: (call) => call() });
    let open = true;
    const batch: LimiterBatch = {
      run: (call) => (open ? call() : Promise.reject(new Error('a limiter batch was used after it ended'))),
    };
    return serial((conn) =>
      conn
        .transaction()
        .execute(() =>
          withinConnectionWait(work(batch), () => {
            open = false;
          }),
        )
        .finally(() => {
          open = false;
        }),
    );
  }

  /** Whether Redis answers (true when counters are not kept in Redis). */
  async ping(): Promise<boolean> {
    if (!this.redis) return true;
    try {
      return (await this.redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.redis?.disconnect();
  }
}

/**
 * Keys are what clients send (an email of up to 254 characters, with an address or a browser's
 * hash): past this length a counter is kept under the key's SHA-256, as PostgreSQL's key column
 * holds 255 characters with the counter's name, and Redis keys stay short.
 */
const MAX_PLAIN_KEY = 150;

/**
 * A batch's work, failed as a busy database (503) if it has not finished within
 * CONNECTION_WAIT_MS: work that waits for the connection its own batch holds (a query through
 * Kysely in it) would otherwise hold every request of the process up for good. Its transaction
 * then rolls back and the connection is free; the stuck work's later limiter calls are refused.
 */
function withinConnectionWait<T>(work: Promise<T>, onLate: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onLate();
      reject(busy('rate limit store busy: a limiter batch did not finish'));
    }, CONNECTION_WAIT_MS);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

function busy(message: string): Error {
  return Object.assign(new Error(message), { code: 'SQLITE_BUSY' });
}

function storedKey(key: string): string {
  return key.length > MAX_PLAIN_KEY ? `sha256:${sha256Hex(key)}` : key;
}

/** How long a limiter call on SQLite waits for the connection before it fails as a busy database. */
const CONNECTION_WAIT_MS = 5000;
