import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../src/platform/db.js';
import { LimiterFactory } from '../../src/platform/rate-limit.js';
import { MAX_GROUP } from '../../src/platform/sqlite-group-commit.js';

interface Tables {
  t: { id: number; v: string };
  parent: { id: number };
  child: { id: number; parent_id: number };
}

describe('SQLite group commit (transactions of waiting requests share one commit)', () => {
  let dir: string;
  let d: Db;
  let db: Kysely<Tables>;
  /** Another connection to the same file: it sees only what is committed. */
  let other: SqliteDatabase.Database;
  const log: string[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'twofold-group-commit-'));
    log.length = 0;
    d = openDatabase({ sqliteFile: join(dir, 'db.sqlite'), onQuery: (q) => log.push(q.trim().toLowerCase()) });
    db = d.db as unknown as Kysely<Tables>;
    await sql`create table t (id integer primary key, v text not null)`.execute(db);
    await sql`create table parent (id integer primary key)`.execute(db);
    await sql`create table child (id integer primary key, parent_id integer not null references parent(id) deferrable initially deferred)`.execute(db);
    await sql`create table rate_limits (key text primary key, points integer not null default 0, expire integer)`.execute(db);
    other = new SqliteDatabase(join(dir, 'db.sqlite'), { readonly: true });
    log.length = 0;
  });
  afterEach(async () => {
    other.close();
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const committed = (id: number) => other.prepare('select count(*) as n from t where id = ?').get(id) as { n: number };
  const commits = () => log.filter((q) => q === 'commit').length;

  it('when no other request waits then a transaction is BEGIN IMMEDIATE … COMMIT on its own, committed when its caller resumes', async () => {
    await db.transaction().execute((trx) => trx.insertInto('t').values({ id: 1, v: 'a' }).execute());
    expect(committed(1).n).toBe(1);
    expect(log).toEqual(['begin immediate', 'insert into "t" ("id", "v") values (?, ?)', 'commit']);
  });

  it(`when 40 transactions run at once then they share commits (at most ${MAX_GROUP} each), and each caller resumes only once another connection can read its row`, async () => {
    const seenAtResume = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        db
          .transaction()
          .execute(async (trx) => {
            await trx.insertInto('t').values({ id: i, v: 'x' }).execute();
            await trx.selectFrom('t').select('id').where('id', '=', i).execute();
          })
          .then(() => committed(i).n),
      ),
    );
    expect(seenAtResume).toEqual(Array(40).fill(1));
    expect(commits()).toBeGreaterThanOrEqual(Math.ceil(40 / MAX_GROUP));
    expect(commits()).toBeLessThan(10);
  });

  it('when some transactions of a group throw then only their own writes are undone and the others commit', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        db.transaction().execute(async (trx) => {
          await trx.insertInto('t').values({ id: i, v: 'x' }).execute();
          if (i % 2) throw new Error(`refused ${i}`);
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array.from({ length: 20 }, (_, i) => (i % 2 ? 'rejected' : 'fulfilled')));
    expect((other.prepare('select id from t order by id').all() as { id: number }[]).map((r) => r.id)).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
    expect(commits()).toBeLessThan(20);
  });

  it('when a statement outside any transaction runs while a group is open then its caller resumes only after that commit', async () => {
    const outside = await Promise.all([
      db.transaction().execute((trx) => trx.insertInto('t').values({ id: 1, v: 'in a transaction' }).execute()),
      db
        .insertInto('t')
        .values({ id: 2, v: 'alone' })
        .execute()
        .then(() => ({ own: committed(2).n, groupMate: committed(1).n })),
      db
        .selectFrom('t')
        .select('id')
        .execute()
        .then((rows) => ({ read: rows.map((r) => r.id), committedThen: [committed(1).n, committed(2).n] })),
    ]);
    expect(outside[1]).toEqual({ own: 1, groupMate: 1 });
    // The read saw the group's rows, and they were committed before it resumed.
    expect(outside[2]).toEqual({ read: [1, 2], committedThen: [1, 1] });
    expect(commits()).toBe(1);
  });

  it('when the group commit fails then every transaction in the group fails and none of its rows stay; the next ones work', async () => {
    // A deferred foreign key is checked at COMMIT: one bad transaction fails the group's commit.
    const results = await Promise.allSettled([
      db.transaction().execute((trx) => trx.insertInto('t').values({ id: 1, v: 'x' }).execute()),
      db.transaction().execute((trx) => trx.insertInto('child').values({ id: 1, parent_id: 999 }).execute()),
      db.transaction().execute((trx) => trx.insertInto('t').values({ id: 2, v: 'x' }).execute()),
      db.insertInto('t').values({ id: 3, v: 'alone' }).execute(),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
    expect(results.map((r) => (r.status === 'rejected' ? (r.reason as { code?: string }).code : undefined))).toEqual(Array(4).fill('SQLITE_CONSTRAINT_FOREIGNKEY'));
    expect(other.prepare('select count(*) as n from t').get()).toEqual({ n: 0 });
    await db.transaction().execute((trx) => trx.insertInto('t').values({ id: 4, v: 'after' }).execute());
    expect(committed(4).n).toBe(1);
  });

  it('when a rate-limit count runs inside a group whose commit fails then the count fails too, not allowed and then lost', async () => {
    const limiter = new LimiterFactory(d).create({ name: 'guess', points: 3, durationSeconds: 600 });
    const counts = () => other.prepare('select count(*) as n from rate_limits').get() as { n: number };
    const results = await Promise.allSettled([
      db.transaction().execute((trx) => trx.insertInto('t').values({ id: 1, v: 'x' }).execute()),
      limiter.consume('victim').then((r) => ({ ...r, committedAtResume: counts().n })),
      db.transaction().execute((trx) => trx.insertInto('child').values({ id: 1, parent_id: 999 }).execute()),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(counts().n).toBe(0);
    // And in a group that commits, the caller resumes with its count committed.
    const [, counted] = await Promise.all([
      db.transaction().execute((trx) => trx.insertInto('t').values({ id: 2, v: 'x' }).execute()),
      limiter.consume('victim').then((r) => ({ allowed: r.allowed, committedAtResume: counts().n })),
    ]);
    expect(counted).toEqual({ allowed: true, committedAtResume: 1 });
  });

  it('when the database is closed while a transaction is half done then closing waits for it: never half of it committed', async () => {
    let wrote!: () => void;
    const halfway = new Promise<void>((r) => (wrote = r));
    const tx = db
      .transaction()
      .execute(async (trx) => {
        await trx.insertInto('t').values({ id: 1, v: 'first' }).execute();
        wrote();
        await new Promise((r) => setTimeout(r, 50));
        await trx.insertInto('t').values({ id: 2, v: 'second' }).execute();
      })
      .then(
        () => 'ok',
        (e: Error) => e.message,
      );
    await halfway;
    await d.close();
    // Closing waited for the transaction; it committed whole.
    expect(await tx).toBe('ok');
    expect((other.prepare('select id from t order by id').all() as { id: number }[]).map((r) => r.id)).toEqual([1, 2]);
    d = openDatabase({ sqliteFile: join(dir, 'db.sqlite') });
  });

  it('when SQLite rolls the group back by itself then the members fail rather than report writes that are gone', async () => {
    const results = await Promise.allSettled([
      db.transaction().execute((trx) => trx.insertInto('t').values({ id: 1, v: 'x' }).execute()),
      // A ROLLBACK of the whole transaction from inside a member, as SQLite does itself on a full disk.
      db.transaction().execute(async (trx) => {
        await trx.insertInto('t').values({ id: 2, v: 'x' }).execute();
        await sql`rollback`.execute(trx);
      }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(other.prepare('select count(*) as n from t').get()).toEqual({ n: 0 });
    // A plain write that comes after such a rollback runs on its own, and says so truly.
    const after = await Promise.allSettled([
      db.transaction().execute(async (trx) => {
        await trx.insertInto('t').values({ id: 6, v: 'x' }).execute();
        await sql`rollback`.execute(trx);
      }),
      db.insertInto('t').values({ id: 7, v: 'plain' }).execute(),
    ]);
    expect(after.map((r) => r.status)).toEqual(['rejected', 'fulfilled']);
    expect(committed(7).n).toBe(1);
    await db.insertInto('t').values({ id: 5, v: 'after' }).execute();
    expect(committed(5).n).toBe(1);
  });
});
