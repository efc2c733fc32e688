import type { Selectable } from 'kysely';
import type { OneTouchTables } from '../schema-onetouch.js';

/** Bus channel carrying one user's request and device events (payloads carry no secrets). */
export const userChannel = (userId: number) => `onetouch.user.${userId}`;

export type UserEvent =
  | { kind: 'created'; uuid: string; seq: number }
  | { kind: 'closed'; uuid: string; status: Selectable<OneTouchTables['approval_requests']>['status'] }
  | { kind: 'device_revoked'; device_id: string };
