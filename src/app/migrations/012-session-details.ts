import type { Migration } from '../../platform/migrations/helpers.js';

/**
 * What the account page shows of each session: the address and browser it was started from.
 * Sessions from before have neither (shown as unknown).
 */
export const migration: Migration = {
  async up(db) {
    await db.schema.alterTable('app_sessions').addColumn('ip', 'text').execute();
    await db.schema.alterTable('app_sessions').addColumn('user_agent', 'text').execute();
  },
};
