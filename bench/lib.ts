/** What every bench shares: a fresh system on loopback, bounded concurrency, percentiles. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { loadConfig, type Config } from '../src/platform/config.js';
import { createLogger } from '../src/platform/logger.js';
import { createSystem, type System } from '../src/system.js';

export interface BenchSystem {
  system: System;
  config: Config;
  url: string;
  /** Set when BENCH_DATABASE_URL points at PostgreSQL. */
  dbUrl: string | undefined;
  stop(): Promise<void>;
}

/**
 * The whole system on 127.0.0.1 with a temporary DATA_DIR (SQLite), or a fresh schema of
 * BENCH_DATABASE_URL (PostgreSQL), dropped again by `stop`.
 */
export async function startBenchSystem(name: string, env: Record<string, string> = {}): Promise<BenchSystem> {
  const dataDir = mkdtempSync(join(tmpdir(), 'twofold-bench-'));
  const dbUrl = process.env['BENCH_DATABASE_URL'];
  const config = loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, HOST: '127.0.0.1', LOG_LEVEL: 'silent', ...env, ...(dbUrl ? { DATABASE_URL: dbUrl } : {}) });
  const pgSchema = `bench_${name}_${process.pid}`;
  const system = await createSystem({ config, logger: createLogger('silent'), ...(dbUrl ? { pgSchema } : {}) });
  const url = await system.listen(0, '127.0.0.1');
  return {
    system,
    config,
    url,
    dbUrl,
    async stop() {
      await system.stop();
      rmSync(dataDir, { recursive: true, force: true });
      if (dbUrl) {
        const c = new pg.Client({ connectionString: dbUrl });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`);
        await c.end();
      }
    },
  };
}

/** Run `fn` over `items` with at most `n` in flight. */
export async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** "p50 …  p95 …  p99 …  max …" in milliseconds with one decimal. */
export function percentiles(xs: number[], qs: number[] = [0.5, 0.95, 0.99]): string {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!.toFixed(1);
  return [...qs.map((q) => `p${Math.round(q * 100)} ${at(q)}`), `max ${s[s.length - 1]!.toFixed(1)}`].join('  ');
}
