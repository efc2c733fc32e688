import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { cachingStatements } from './sqlite-statements.js';

interface Tables {
  t: { id: number; name: string };
}

let opened: SqliteDatabase.Database[] = [];

function setup(max?: number) {
  const raw = new SqliteDatabase(':memory:');
  opened.push(raw);
  raw.exec('create table t (id integer primary key, name text not null)');
  let prepared = 0;
  const prepare = raw.prepare.bind(raw);
  raw.prepare = ((source: string) => {
    prepared++;
    return prepare(source);
  }) as typeof raw.prepare;
  const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: cachingStatements(raw, max) }) });
  return { db, prepared: () => prepared };
}

afterEach(() => {
  for (const raw of opened) if (raw.open) raw.close();
  opened = [];
});

describe('cachingStatements', () => {
  it('when a query runs again with other parameters then it answers for those parameters, from one prepared statement', async () => {
    const { db, prepared } = setup();
    for (let i = 1; i <= 5; i++) await db.insertInto('t').values({ id: i, name: `n${i}` }).execute();
    const names: string[] = [];
    for (let i = 1; i <= 5; i++) names.push((await db.selectFrom('t').select('name').where('id', '=', i).executeTakeFirstOrThrow()).name);
    expect(names).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
    // One insert and one select statement, each prepared once.
    expect(prepared()).toBe(2);
  });

  it('when writes and reads share SQL text then each still sees the latest committed rows', async () => {
    const { db } = setup();
    await db.insertInto('t').values({ id: 1, name: 'a' }).execute();
    await db.updateTable('t').set({ name: 'b' }).where('id', '=', 1).execute();
    expect((await db.selectFrom('t').selectAll().execute())).toEqual([{ id: 1, name: 'b' }]);
    await db.updateTable('t').set({ name: 'c' }).where('id', '=', 1).execute();
    expect((await db.selectFrom('t').selectAll().execute())).toEqual([{ id: 1, name: 'c' }]);
  });

  it('when the same SQL is prepared while its statement is still being iterated then a separate statement answers', () => {
    const raw = new SqliteDatabase(':memory:');
    opened.push(raw);
    raw.exec('create table t (id integer primary key); insert into t values (1), (2), (3)');
    const source = cachingStatements(raw);
    const text = 'select id from t order by id';
    const outer: number[] = [];
    const inner: number[][] = [];
    for (const row of source.prepare(text).iterate() as Iterable<{ id: number }>) {
      outer.push(row.id);
      inner.push((source.prepare(text).all() as { id: number }[]).map((r) => r.id));
    }
    expect(outer).toEqual([1, 2, 3]);
    expect(inner).toEqual([[1, 2, 3], [1, 2, 3], [1, 2, 3]]);
  });

  it('when more distinct statements than the bound were used then the least recently used is prepared anew', async () => {
    const { db, prepared } = setup(2);
    const q = (n: number) => sql`select ${sql.lit(n)} as n`.execute(db);
    await q(1);
    await q(2);
    await q(1); // 1 is now the most recently used
    await q(3); // drops 2
    expect(prepared()).toBe(3);
    await q(1);
    expect(prepared()).toBe(3);
    await q(2);
    expect(prepared()).toBe(4);
  });

  it('when the database is closed through Kysely then the connection is closed', async () => {
    const { db } = setup();
    await db.selectFrom('t').selectAll().execute();
    await db.destroy();
    expect(opened[0]!.open).toBe(false);
  });
});
