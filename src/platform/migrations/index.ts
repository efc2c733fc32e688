import { Migrator, sql, type Kysely, type MigrationProvider } from 'kysely';
import type { Db } from '../db.js';
import type { Migration } from './helpers.js';
import { migration as m001 } from './001-verify-core.js';
import { migration as m002 } from './002-onetouch-devices.js';
import { migration as m003 } from './003-web-app.js';
import { migration as m004 } from './004-security.js';
import { migration as m005 } from './005-recovery-codes.js';
import { migration as m006 } from './006-web-push.js';

/** Numbered, forward-only. A test checks the numbers are contiguous. */
export const migrations: Record<string, Migration> = {
  '001-verify-core': m001,
  '002-onetouch-devices': m002,
  '003-web-app': m003,
  '004-security': m004,
  '005-recovery-codes': m005,
  '006-web-push': m006,
};

function provider(db: Db): MigrationProvider {
  return {
    async getMigrations() {
      return Object.fromEntries(
        Object.entries(migrations).map(([name, m]) => [name, { up: (k: Kysely<unknown>) => m.up(k, db.kind) }]),
      );
    },
  };
}

/** Apply every pending migration; returns the names applied. Throws with the failing one's cause. */
export async function migrateToLatest(db: Db): Promise<string[]> {
  // Kysely looks for its migration tables in every schema unless told which one: with several
  // PostgreSQL schemas in one database (parallel test runs), it would see another schema's tables
  // and skip creating its own. Pin it to the connection's current schema.
  const schema =
    db.kind === 'postgres'
      ? (await sql<{ s: string }>`select current_schema() as s`.execute(db.db)).rows[0]?.s
      : undefined;
  const migrator = new Migrator({
    db: db.db as unknown as Kysely<unknown>,
    provider: provider(db),
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`migration ${failed} failed`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
