import type { AppTables } from '../app/schema.js';
import type { VerifyTables } from '../verify/schema.js';
import type { OneTouchTables } from '../verify/schema-onetouch.js';

import type { Generated } from 'kysely';

/** Platform-owned tables (the audit trail). */
export interface PlatformTables {
  audit_events: {
    id: Generated<number>;
    at: number;
    type: string;
    outcome: string;
    /** Who: `app-user:<id>` for the web app, `authy:<authy_id>` for the service. */
    user_ref: string | null;
    ip: string | null;
    user_agent: string | null;
    /** Small JSON object with non-secret facts (factor kind, device id, reason code). */
    detail: string | null;
  };
}

/** The whole database as Kysely sees it. Each bounded context touches only its own tables. */
export interface Database extends VerifyTables, OneTouchTables, AppTables, PlatformTables {}
