import { createRequire } from 'node:module';
import type * as K from 'kysely';

/**
 * The values Twofold takes from Kysely (the query builder, `sql`, the migrator, the dialects),
 * from its CommonJS build. Its ES module build is 263 files, which Node 20 loads one at a time
 * through the ES module loader (an asynchronous read, a parse and a link each): the CommonJS build
 * of the same code costs a start about 0.1 s less. Import Kysely's values from here, never from
 * 'kysely' (loading both builds would cost the start both); its types may come from 'kysely'.
 */
const kysely = createRequire(import.meta.url)('kysely') as typeof K;

export const { sql, Migrator, PostgresDialect, SqliteDialect } = kysely;
export const Kysely = kysely.Kysely;
export type Kysely<DB> = K.Kysely<DB>;
