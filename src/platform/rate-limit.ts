import { Redis } from 'ioredis';
import {
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRedis,
  RateLimiterRes,
  RateLimiterSQLite,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import type { Db } from './db.js';

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
  /** Count one event for `key`; resolves with the outcome, never throws for "over limit". */
  consume(key: string, points?: number): Promise<{ allowed: boolean; retryAfterSeconds: number; remaining: number }>;
  /** Current state without counting. */
  peek(key: string): Promise<{ consumed: number; retryAfterSeconds: number }>;
  reset(key: string): Promise<void>;
}

/**
 * Counters live in the shared store (Redis when configured, else the database), never only in
 * process memory, so every instance sees the same counts and a restart does not reset them.
 */
export class LimiterFactory {
  private redis: Redis | undefined;
  /** The first store-backed limiter creates the shared table; the rest wait for it. */
  private tableReady: Promise<void> | undefined;

  constructor(
    private readonly db: Db | undefined,
    redisUrl?: string,
    /** Prefix of the counters' keys in Redis. */
    private readonly redisPrefix = 'twofold',
  ) {
    if (redisUrl) {
      this.redis = new Redis(redisUrl, { enableOfflineQueue: true, maxRetriesPerRequest: 2 });
      this.redis.on('error', () => {});
    }
  }

  create(o: LimitOptions): Limiter {
    const common = { keyPrefix: o.name, points: o.points, duration: o.durationSeconds, blockDuration: o.blockSeconds ?? 0 };
    let rl: RateLimiterAbstract;
    let ready: Promise<void> = Promise.resolve();
    if (this.redis) {
      rl = new RateLimiterRedis({ ...common, keyPrefix: `${this.redisPrefix}:rl:${o.name}`, storeClient: this.redis, useRedisPackage: false });
    } else if (this.db) {
      const raw = this.db.raw;
      const make = (tableCreated: boolean, cb?: (e?: unknown) => void): RateLimiterAbstract =>
        raw.kind === 'postgres'
          ? new RateLimiterPostgres({ ...common, storeClient: raw.pool, storeType: 'pool', tableName: 'rate_limits', tableCreated }, cb)
          : new RateLimiterSQLite(
              { ...common, storeClient: raw.sqlite, storeType: 'better-sqlite3', tableName: 'rate_limits', tableCreated },
              cb,
            );
      if (!this.tableReady) {
        let created!: RateLimiterAbstract;
        this.tableReady = new Promise<void>((res, rej) => {
          created = make(false, (e) => (e ? rej(e) : res()));
        });
        rl = created;
      } else {
        rl = make(true);
      }
      ready = this.tableReady;
    } else {
      rl = new RateLimiterMemory(common);
    }
    return {
      async consume(key, points = 1) {
        await ready;
        try {
          const r = await rl.consume(key, points);
          return { allowed: true, retryAfterSeconds: 0, remaining: r.remainingPoints };
        } catch (e) {
          if (e instanceof RateLimiterRes) {
            return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(e.msBeforeNext / 1000)), remaining: 0 };
          }
          throw e;
        }
      },
      async peek(key) {
        await ready;
        const r = await rl.get(key);
        return { consumed: r?.consumedPoints ?? 0, retryAfterSeconds: r ? Math.ceil(r.msBeforeNext / 1000) : 0 };
      },
      async reset(key) {
        await ready;
        await rl.delete(key);
      },
    };
  }

  /** Resolves when every store-backed limiter has its table. */
  async whenReady(): Promise<void> {
    await this.tableReady;
  }

  async close(): Promise<void> {
    this.redis?.disconnect();
  }
}
