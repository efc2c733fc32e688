import type SqliteDatabase from 'better-sqlite3';

/** What Kysely's SqliteDialect needs of a database (its `SqliteDatabase` interface). */
export type StatementSource = Pick<SqliteDatabase.Database, 'prepare' | 'close'>;

/**
 * A better-sqlite3 database for Kysely that keeps its prepared statements. Kysely's SQLite driver
 * prepares every query anew, and preparing a statement costs about as much as running a small
 * one (the request benchmarks spend a tenth of their time there). Statements are keyed by their
 * SQL text — parameters are bound at each run, so no value is ever part of a key — and the
 * least recently used is dropped beyond `max` (Kysely's SQL text is a finite set per call site).
 *
 * A statement still being iterated (Kysely's `stream()`) cannot run again until it is done, so
 * a busy one is never handed out twice: that caller gets a fresh, uncached statement.
 */
export function cachingStatements(db: SqliteDatabase.Database, max = 500): StatementSource {
  const cache = new Map<string, SqliteDatabase.Statement>();
  return {
    prepare(source: string) {
      const hit = cache.get(source);
      if (hit && !hit.busy) {
        // Map keeps insertion order: re-inserting marks it most recently used.
        cache.delete(source);
        cache.set(source, hit);
        return hit;
      }
      const stmt = db.prepare(source);
      if (!hit) {
        cache.set(source, stmt);
        if (cache.size > max) cache.delete(cache.keys().next().value!);
      }
      return stmt;
    },
    close() {
      cache.clear();
      db.close();
    },
  } as StatementSource;
}
