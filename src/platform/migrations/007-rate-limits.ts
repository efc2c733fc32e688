import type { Migration } from './helpers.js';

/**
 * The rate-limit counters' table, in the shape rate-limiter-flexible reads and writes. The library
 * can create it itself, but instances starting at once would race on that CREATE; here it runs
 * under the migration lock. IF NOT EXISTS: earlier versions let the library create it.
 */
export const migration: Migration = {
  async up(db, kind) {
    await db.schema
      .createTable('rate_limits')
      .ifNotExists()
      .addColumn('key', kind === 'postgres' ? 'varchar(255)' : 'text', (c) => c.primaryKey())
      .addColumn('points', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('expire', kind === 'postgres' ? 'bigint' : 'integer')
      .execute();
  },
};
