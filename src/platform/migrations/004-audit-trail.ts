import type { Migration } from './helpers.js';
import { bigintType, notNull, withId } from './helpers.js';

/** The audit trail of authentication events. */
export const migration: Migration = {
  async up(db, kind) {
    const big = bigintType(kind);
    await withId(db.schema.createTable('audit_events'), kind)
      .addColumn('at', big, notNull)
      .addColumn('type', 'text', notNull)
      .addColumn('outcome', 'text', notNull)
      .addColumn('user_ref', 'text')
      .addColumn('ip', 'text')
      .addColumn('user_agent', 'text')
      .addColumn('detail', 'text')
      .execute();
    await db.schema.createIndex('audit_events_user').on('audit_events').columns(['user_ref', 'at']).execute();
  },
};
