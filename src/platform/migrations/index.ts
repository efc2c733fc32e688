import { Migrator, sql, type Kysely, type MigrationProvider } from 'kysely';
import type { Db } from '../db.js';
import type { Migration, MigrationNote } from './helpers.js';
import { migration as m001 } from './001-verify-core.js';
import { migration as m002 } from './002-onetouch-devices.js';
import { migration as m003 } from './003-web-app.js';
import { migration as m004 } from './004-security.js';
import { migration as m005 } from './005-recovery-codes.js';
import { migration as m006 } from './006-web-push.js';
import { migration as m007 } from './007-rate-limits.js';
import { migration as m008 } from './008-own-second-factors.js';
import { migration as m009 } from './009-account-factors.js';
import { migration as m010 } from './010-known-browsers.js';

/** Numbered, forward-only. A test checks the numbers are contiguous. */
export const migrations: Record<string, Migration> = {
  '001-verify-core': m001,
  '002-onetouch-devices': m002,
  '003-web-app': m003,
  '004-security': m004,
  '005-recovery-codes': m005,
  '006-web-push': m006,
  '007-rate-limits': m007,
  '008-own-second-factors': m008,
  '009-account-factors': m009,
  '010-known-browsers': m010,
};

function provider(db: Db, note?: MigrationNote): MigrationProvider {
  return {
    async getMigrations() {
      return Object.fromEntries(
        Object.entries(migrations).map(([name, m]) => [name, { up: (k: Kysely<unknown>) => m.up(k, db.kind, note) }]),
      );
    },
  };
}

/**
 * Apply every pending migration; returns the names applied. Throws with the failing one's cause.
 *
 * On PostgreSQL, instances that start at the same moment queue on a session-level advisory lock
 * (one per schema) held for the whole run: the first applies the migrations, the others then find
 * nothing to do. Without it they would race on creating Kysely's own tables.
 */
export async function migrateToLatest(db: Db, note?: MigrationNote): Promise<string[]> {
  if (db.raw.kind !== 'postgres') return migrateUnlocked(db, note);
  const lock = await db.raw.connect();
  try {
    const { rows } = await lock.query<{ s: string }>('select current_schema() as s');
    await lock.query('select pg_advisory_lock(hashtext($1))', [`twofold.migrate:${rows[0]?.s ?? ''}`]);
    return await migrateUnlocked(db, note);
  } finally {
    // Ending the session releases the lock even if the unlock query is never sent.
    await lock.end().catch(() => {});
  }
}

async function migrateUnlocked(db: Db, note?: MigrationNote): Promise<string[]> {
  // Kysely looks for its migration tables in every schema unless told which one: with several
  // PostgreSQL schemas in one database (parallel test runs), it would see another schema's tables
  // and skip creating its own. Pin it to the connection's current schema.
  const schema =
    db.kind === 'postgres'
      ? (await sql<{ s: string }>`select current_schema() as s`.execute(db.db)).rows[0]?.s
      : undefined;
  const migrator = new Migrator({
    db: db.db as unknown as Kysely<unknown>,
    provider: provider(db, note),
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`migration ${failed} failed`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
