import type { ColumnDefinitionBuilder, CreateTableBuilder, Kysely } from 'kysely';
import type { DatabaseKind } from '../db.js';

/** A migration runs on both dialects; `kind` picks column types where they differ. */
export interface Migration {
  /** `note` reports what a data migration changed (the caller logs it). */
  up(db: Kysely<unknown>, kind: DatabaseKind, note?: MigrationNote): Promise<void>;
}

export type MigrationNote = (facts: Record<string, string | number>, message: string) => void;

/** Auto-incrementing integer primary key on both dialects. */
export function withId<T extends string>(
  table: CreateTableBuilder<T, never>,
  kind: DatabaseKind,
  name = 'id',
): CreateTableBuilder<T, never> {
  return kind === 'postgres'
    ? table.addColumn(name, 'bigserial', (c) => c.primaryKey())
    : table.addColumn(name, 'integer', (c) => c.primaryKey().autoIncrement());
}

/** Column type for millisecond timestamps and counters that may exceed 2^31. */
export const bigintType = (kind: DatabaseKind) => (kind === 'postgres' ? 'bigint' : 'integer');

export type ColumnBuilder = (c: ColumnDefinitionBuilder) => ColumnDefinitionBuilder;
export const notNull: ColumnBuilder = (c) => c.notNull();
