import { setTimeout as sleep } from 'node:timers/promises';
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import type { LogEvent } from 'kysely';
import type pg from 'pg';
import { Kysely, PostgresDialect, sql } from './kysely.js';
import { GroupCommitSqliteDialect } from './sqlite-group-commit.js';
import type { PlatformTables } from './schema.js';
import { cachingStatements } from './sqlite-statements.js';

let pgModule: typeof pg | undefined;

/**
 * node-postgres, loaded on first use: only a PostgreSQL DATABASE_URL needs it, and loading it
 * costs every start about 0.1 s. `pg` is CommonJS, so `require` loads it synchronously (the same
 * module instance `import pg from 'pg'` gives).
 */
function loadPg(): typeof pg {
  if (!pgModule) {
    pgModule = createRequire(import.meta.url)('pg') as typeof pg;
    // PostgreSQL returns BIGINT (int8) and COUNT(*) as strings by default; every bigint Twofold
    // stores is a millisecond timestamp or a counter well inside Number.MAX_SAFE_INTEGER.
    pgModule.types.setTypeParser(20, (v) => Number(v));
  }
  return pgModule;
}

export type DatabaseKind = 'sqlite' | 'postgres';

/** An open database, typed by the tables its holder may use (the platform's own by default). */
export interface Db<T extends object = PlatformTables> {
  kind: DatabaseKind;
  db: Kysely<T>;
  /** The raw driver handle, for libraries that need it (rate-limiter-flexible, LISTEN/NOTIFY). */
  raw:
    | { kind: 'sqlite'; sqlite: SqliteDatabase.Database }
    | { kind: 'postgres'; pool: pg.Pool; /** A connection outside the pool (session-level locks, LISTEN). */ connect(): Promise<pg.Client> };
  close(): Promise<void>;
}

export interface DbOptions {
  /** postgres:// URL; when absent, SQLite at `sqliteFile`. */
  databaseUrl?: string | undefined;
  sqliteFile?: string;
  /** PostgreSQL schema to use (created when missing); tests isolate themselves with it. */
  pgSchema?: string;
  pgPoolSize?: number;
  /** How long a request waits for a PostgreSQL connection before failing (ms). */
  pgConnectTimeoutMs?: number;
  /** Called with every statement's SQL as it runs (the statement-count bench and tests). */
  onQuery?: ((sql: string) => void) | undefined;
}

/** Kysely's `log` option for `onQuery`. */
function queryLog(onQuery: DbOptions['onQuery']) {
  return onQuery ? { log: (e: LogEvent) => onQuery(e.query.sql) } : {};
}

export function openDatabase(options: DbOptions): Db {
  if (options.databaseUrl) {
    const driver = loadPg();
    const schema = options.pgSchema;
    if (schema !== undefined && !/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error('invalid schema name');
    const connection = {
      connectionString: options.databaseUrl,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    };
    const pool = new driver.Pool({
      ...connection,
      max: options.pgPoolSize ?? 10,
      // Without a bound, a request waits forever for a connection to an unreachable server; with
      // one it fails fast, is answered 503, and the pool reconnects once the server is back.
      connectionTimeoutMillis: options.pgConnectTimeoutMs ?? 5000,
    });
    // A client that loses its connection must not crash the process: the pool reports it for
    // idle clients, and each client gets its own listener for while it is checked out (between
    // two statements of a transaction, say), where node-postgres would otherwise throw. The query
    // in flight fails with its own error, answered 503; the pool then connects afresh.
    pool.on('error', () => {});
    pool.on('connect', (client) => {
      client.on('error', () => {});
    });
    const db = new Kysely<PlatformTables>({ dialect: new PostgresDialect({ pool }), ...queryLog(options.onQuery) });
    return {
      kind: 'postgres',
      db,
      raw: {
        kind: 'postgres',
        pool,
        async connect() {
          const client = new driver.Client({ ...connection, connectionTimeoutMillis: options.pgConnectTimeoutMs ?? 5000 });
          client.on('error', () => {});
          await client.connect();
          return client;
        },
      },
      close: () => db.destroy(),
    };
  }
  const file = options.sqliteFile ?? ':memory:';
  if (file !== ':memory:') {
    mkdirSync(dirname(file), { recursive: true });
    // Owner-only: the file holds hashes, sealed secrets and sessions. SQLite gives its -wal and
    // -shm files the database file's permissions, so they follow.
    closeSync(openSync(file, 'a', 0o600));
    chmodSync(file, 0o600);
  }
  const sqlite = new SqliteDatabase(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  // Kysely prepares every query anew; keeping the statements saves a fifth of a request's CPU.
  // `raw.sqlite` stays the plain handle (rate-limiter-flexible prepares its own). Transactions of
  // requests waiting for the connection share a commit (sqlite-group-commit.ts).
  const db = new Kysely<PlatformTables>({ dialect: new GroupCommitSqliteDialect({ database: cachingStatements(sqlite) }, sqlite), ...queryLog(options.onQuery) });
  return {
    kind: 'sqlite',
    db,
    raw: { kind: 'sqlite', sqlite },
    close: () => db.destroy(),
  };
}

/** Create the PostgreSQL schema named in the options when it does not exist. */
export async function ensurePgSchema(databaseUrl: string, schema: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error('invalid schema name');
  const client = new (loadPg().Client)({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  } catch (e) {
    // Two processes creating it at once: one wins, the other sees a unique violation.
    if ((e as { code?: string }).code !== '23505') throw e;
  } finally {
    await client.end();
  }
}

/**
 * The same database seen with a context's tables added to the platform's. Only the type changes
 * (as with Kysely's `withTables`, which wants index-signature types where ours are interfaces).
 */
export function withTables<T extends object, P extends object = PlatformTables>(db: Db<P>): Db<P & T> {
  return db as unknown as Db<P & T>;
}

/**
 * A query builder over more tables used where fewer are expected (a context's transaction handed
 * to the audit log). Always sound, but Kysely's types are invariant in the tables, hence the cast.
 */
export function narrowTables<P extends object, T extends P>(db: Kysely<T>): Kysely<P> {
  return db as unknown as Kysely<P>;
}

/** True when the database answers a trivial query. */
export async function ping<T extends object>(db: Kysely<T>): Promise<boolean> {
  try {
    await sql`select 1`.execute(db);
    return true;
  } catch {
    return false;
  }
}

/** A unique index refused the write (PostgreSQL 23505, SQLite SQLITE_CONSTRAINT_*). */
export function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: unknown } | undefined)?.code;
  return code === '23505' || (typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT'));
}

/**
 * True when `err` means "the database cannot be reached right now" (server down, connection
 * dropped or refused, pool timed out, SQLite busy, a transaction that lost a deadlock) rather
 * than a bug or a client's mistake:
 * such requests are answered 503 and may be retried.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === 'string') {
      if (NETWORK_CODES.has(code)) return true;
      // SQLSTATE class 08 (connection exception), 57P01-03 (shutdown, cannot connect now),
      // 53300 (too many connections).
      if (/^08...$/.test(code) || /^57P0[1-3]$/.test(code) || code === '53300') return true;
      // 40P01 (deadlock detected), 40001 (serialization failure): the transaction was rolled back
      // and the same request may be tried again.
      if (code === '40P01' || code === '40001') return true;
      if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return true;
    }
    if (typeof message === 'string' && UNAVAILABLE_MESSAGES.some((m) => message.includes(m))) return true;
  }
  return false;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
// node-postgres reports these without a code.
const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Client was closed and is not queryable',
];

/** The waits between tries of work that `retryWhileUnavailable` repeats: about a minute in all. */
export const UNAVAILABLE_RETRY_DELAYS_MS: readonly number[] = [500, 1_000, 2_000, 5_000, 10_000, 20_000, 30_000];

/**
 * Runs `work`, and again after each of `delaysMs` while it fails because the database is
 * unavailable. For work done after the answer, which no client will retry: a signup's email link
 * must not be lost to a database that was away for a few seconds. Any other failure, or the last
 * one, is thrown. The waits do not keep the process alive.
 */
export async function retryWhileUnavailable<T>(work: () => Promise<T>, delaysMs: readonly number[] = UNAVAILABLE_RETRY_DELAYS_MS): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      return await work();
    } catch (err) {
      const delay = delaysMs[tries];
      if (delay === undefined || !isDatabaseUnavailable(err)) throw err;
      await sleep(delay, undefined, { ref: false });
    }
  }
}
