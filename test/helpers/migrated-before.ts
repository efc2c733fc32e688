import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Migrator, type Kysely } from 'kysely';
import type { SystemDatabase } from '../../src/migrations.js';
import { ensurePgSchema, openDatabase, withTables, type Db, type DatabaseKind } from '../../src/platform/db.js';
import { migrations } from '../../src/migrations.js';
import { freshSchema, pgUrl } from './databases.js';

/**
 * A fresh database (SQLite file in a new data dir, or a new PostgreSQL schema) migrated up to,
 * not including, migration `number` ("009"): the state an older release left, for testing what a
 * data migration does to rows from before. Start a test system on `dataDir`/`pgSchema` to run the
 * rest.
 */
export async function databaseBefore(kind: DatabaseKind, number: string): Promise<{ db: Db<SystemDatabase>; dataDir: string; pgSchema: string | undefined }> {
  const dataDir = mkdtempSync(join(tmpdir(), `twofold-before-${number}-`));
  const pgSchema = kind === 'postgres' ? freshSchema() : undefined;
  if (pgSchema) await ensurePgSchema(pgUrl(), pgSchema);
  const db = openDatabase({ databaseUrl: pgSchema ? pgUrl() : undefined, sqliteFile: join(dataDir, 'twofold.sqlite'), ...(pgSchema ? { pgSchema } : {}) });
  const before = Object.entries(migrations).filter(([name]) => name < number);
  const migrator = new Migrator({
    db: db.db as unknown as Kysely<unknown>,
    provider: { getMigrations: async () => Object.fromEntries(before.map(([name, m]) => [name, { up: (k: Kysely<unknown>) => m.up(k, db.kind) }])) },
    ...(pgSchema ? { migrationTableSchema: pgSchema } : {}),
  });
  const { error } = await migrator.migrateToLatest();
  if (error) throw new Error(`migrations before ${number} failed`, { cause: error });
  return { db: withTables<SystemDatabase>(db), dataDir, pgSchema };
}
