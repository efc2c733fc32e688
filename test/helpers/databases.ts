import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import type { DatabaseKind } from '../../src/platform/db.js';

/** The database kinds every storage-touching suite runs against. */
export const DATABASE_KINDS: DatabaseKind[] = ['sqlite', 'postgres'];

export function pgAvailable(): boolean {
  return inject('pgAvailable');
}

export function pgUrl(): string {
  return inject('pgUrl');
}

/** A fresh, unique PostgreSQL schema name for one test system. */
export function freshSchema(): string {
  return `${inject('pgSchemaPrefix') ?? 'tf_test_'}${randomBytes(6).toString('hex')}`;
}

/**
 * `describe.each` over both databases; the PostgreSQL half is skipped (with the reason printed by
 * the global setup) only when the server cannot be reached outside CI.
 */
export function forEachDatabase(fn: (kind: DatabaseKind) => void): void {
  for (const kind of DATABASE_KINDS) {
    if (kind === 'postgres' && !pgAvailable()) continue;
    fn(kind);
  }
}
