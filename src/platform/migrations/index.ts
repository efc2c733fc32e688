import type { Kysely, MigrationProvider } from 'kysely';
import type { Db } from '../db.js';
import { Migrator, sql } from '../kysely.js';
import type { Migration, MigrationNote } from './helpers.js';
import { migration as m004 } from './004-audit-trail.js';
import { migration as m007 } from './007-rate-limits.js';

/** The platform's own tables: the audit trail and the rate-limit counters. */
export const platformMigrations: Record<string, Migration> = {
  '004-security': m004,
  '007-rate-limits': m007,
};

/** Every context's migrations in one list, ordered by name (their numbers are the system's). */
export function allMigrations(...lists: Record<string, Migration>[]): Record<string, Migration> {
  const all: Record<string, Migration> = {};
  for (const list of lists) {
    for (const [name, m] of Object.entries(list)) {
      if (name in all) throw new Error(`migration ${name} is defined twice`);
      all[name] = m;
    }
  }
  return Object.fromEntries(Object.entries(all).sort(([a], [b]) => a.localeCompare(b)));
}

function provider(db: Pick<Db<object>, 'kind'>, migrations: Record<string, Migration>, note?: MigrationNote): MigrationProvider {
  return {
    async getMigrations() {
      return Object.fromEntries(
        Object.entries(migrations).map(([name, m]) => [name, { up: (k: Kysely<unknown>) => m.up(k, db.kind, note) }]),
      );
    },
  };
}

/**
 * Apply every pending migration of `migrations` (numbered, forward-only: the system's list, see
 * `src/migrations.ts`); returns the names applied. Throws with the failing one's cause.
 *
 * On PostgreSQL, instances that start at the same moment queue on a session-level advisory lock
 * (one per schema) held for the whole run: the first applies the migrations, the others then find
 * nothing to do. Without it they would race on creating Kysely's own tables.
 */
export async function migrateToLatest<T extends object>(db: Db<T>, migrations: Record<string, Migration>, note?: MigrationNote): Promise<string[]> {
  if (db.raw.kind !== 'postgres') return migrateUnlocked(db, migrations, note);
  const lock = await db.raw.connect();
  try {
    const { rows } = await lock.query<{ s: string }>('select current_schema() as s');
    await lock.query('select pg_advisory_lock(hashtext($1))', [`twofold.migrate:${rows[0]?.s ?? ''}`]);
    return await migrateUnlocked(db, migrations, note);
  } finally {
    // Ending the session releases the lock even if the unlock query is never sent.
    await lock.end().catch(() => {});
  }
}

async function migrateUnlocked<T extends object>(db: Db<T>, migrations: Record<string, Migration>, note?: MigrationNote): Promise<string[]> {
  // Kysely looks for its migration tables in every schema unless told which one: with several
  // PostgreSQL schemas in one database (parallel test runs), it would see another schema's tables
  // and skip creating its own. Pin it to the connection's current schema.
  const schema =
    db.kind === 'postgres'
      ? (await sql<{ s: string }>`select current_schema() as s`.execute(db.db)).rows[0]?.s
      : undefined;
  const migrator = new Migrator({
    db: db.db as unknown as Kysely<unknown>,
    provider: provider(db, migrations, note),
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`migration ${failed} failed`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
