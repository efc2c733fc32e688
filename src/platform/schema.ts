import type { AppTables } from '../app/schema.js';
import type { VerifyTables } from '../verify/schema.js';
import type { OneTouchTables } from '../verify/schema-onetouch.js';

/** Platform-owned tables (audit trail, issue 5). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface PlatformTables {}

/** The whole database as Kysely sees it. Each bounded context touches only its own tables. */
export interface Database extends VerifyTables, OneTouchTables, AppTables, PlatformTables {}
