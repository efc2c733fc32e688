import type { Kysely } from 'kysely';
import type { SystemDatabase } from '../../src/migrations.js';
import { forContext, type Platform } from '../../src/platform/context.js';
import { narrowTables, withTables, type Db } from '../../src/platform/db.js';
import { Directory } from '../../src/verify/core/directory.js';
import type { CoreDatabase, CorePlatform, VerifyTables } from '../../src/verify/schema.js';
import type { OneTouchDatabase, OneTouchPlatform, OneTouchTables } from '../../src/verify/schema-onetouch.js';

/**
 * Tests look at every context's tables and build a context's parts by hand: these give them the
 * views the contexts get from their entry points (`forContext`).
 */
export const systemDb = (db: Db): Kysely<SystemDatabase> => withTables<SystemDatabase>(db).db;
export const corePlatform = (p: Platform): CorePlatform => forContext<VerifyTables>(p);
export const oneTouchPlatform = (p: Platform): OneTouchPlatform => forContext<OneTouchTables>(p);
/** The core's directory (users and apps) as OneTouch's parts receive it. */
export const directoryOf = (p: Platform) => new Directory(corePlatform(p));
export const coreDb = (db: Kysely<SystemDatabase>): Kysely<CoreDatabase> => narrowTables<CoreDatabase, SystemDatabase>(db);
export const oneTouchDb = (db: Db<SystemDatabase>): Db<OneTouchDatabase> => ({ ...db, db: narrowTables<OneTouchDatabase, SystemDatabase>(db.db) });
