import * as kysely from 'kysely';

/**
 * The values Twofold takes from Kysely (the query builder, `sql`, the migrator, the dialects).
 * Import them from here rather than from 'kysely', so the one module that loads its code stays
 * this one; its types may come from 'kysely'.
 */
export const { sql, CompiledQuery, Migrator, PostgresDialect, SqliteDialect } = kysely;
export const Kysely = kysely.Kysely;
export type Kysely<DB> = kysely.Kysely<DB>;
