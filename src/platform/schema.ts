import type { Generated } from 'kysely';

/**
 * Platform-owned tables (the audit trail). Each context declares its own tables beside its code
 * and sees the database as its tables plus these (`withTables`); platform knows no context's.
 */
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
