// Threat: on SQLite the rate limiters and Kysely share one connection. A limiter's count that runs
// while another request's transaction is open on it becomes part of that transaction, and when that
// transaction rolls back (a refused change: the 21st passkey, a lost race) the count is undone: an
// attacker who makes their own changes fail at the right moments guesses for free.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

const AUDIT_ROW = { at: 0, type: 'test', outcome: 'info', user_ref: null, ip: null, user_agent: null, detail: null };

describe('limiter counts and rolled-back transactions (sqlite)', () => {
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem({ db: 'sqlite' });
  });
  afterAll(() => t.stop());

  it('when a limiter counts while another transaction is open and that transaction rolls back then the count stays', async () => {
    const limiter = t.system.platform.limits.create({ name: 'test:rollback', points: 100, durationSeconds: 600 });
    let counted: Promise<unknown> | undefined;
    const refused = t.system.platform.db.db
      .transaction()
      .execute(async (trx) => {
        // The transaction has written: it is open on the connection.
        await trx.insertInto('audit_events').values(AUDIT_ROW).execute();
        // Another request's guess is counted while this transaction is open...
        counted = Promise.all([limiter.consume('victim'), limiter.consume('victim'), limiter.consume('victim')]);
        await new Promise((r) => setTimeout(r, 20));
        // ...and this change is then refused.
        throw new Error('refused change');
      })
      .catch((e: Error) => e.message);
    expect(await refused).toBe('refused change');
    await counted;
    expect((await limiter.peek('victim')).consumed).toBe(3);
  });

  it('when many counts race with a transaction that commits then every count is kept, once', async () => {
    const limiter = t.system.platform.limits.create({ name: 'test:commit', points: 1000, durationSeconds: 600 });
    const burst: Promise<unknown>[] = [];
    await t.system.platform.db.db.transaction().execute(async (trx) => {
      await trx.insertInto('audit_events').values(AUDIT_ROW).execute();
      for (let i = 0; i < 50; i++) burst.push(limiter.consume('k'));
      await new Promise((r) => setTimeout(r, 10));
    });
    await Promise.all(burst);
    expect((await limiter.peek('k')).consumed).toBe(50);
  });

  it('when a count that goes over the limit races with transactions then the block is written, once', async () => {
    const limiter = t.system.platform.limits.create({ name: 'test:block', points: 2, durationSeconds: 1, blockSeconds: 600 });
    const transactions = Array.from({ length: 20 }, (_, i) =>
      t.system.platform.db.db.transaction().execute(async (trx) => {
        await trx.insertInto('audit_events').values(AUDIT_ROW).execute();
        await new Promise((r) => setTimeout(r, i % 3));
      }),
    );
    const counts = await Promise.all(Array.from({ length: 6 }, () => limiter.consume('blocked')));
    await Promise.all(transactions);
    expect(counts.filter((c) => c.allowed)).toHaveLength(2);
    // Blocked for its 600 s, not only until the 1-second window ends.
    expect((await limiter.peek('blocked')).retryAfterSeconds).toBeGreaterThan(500);
  });

  // A batch (LimiterFactory.batch) runs several counts in one transaction of its own: the same
  // threats hold for it, and its counts stand or fall together.
  it('when a batch counts while another transaction is open and that transaction rolls back then the batch\'s counts stay', async () => {
    const { limits, db } = t.system.platform;
    const a = limits.create({ name: 'test:batch:a', points: 100, durationSeconds: 600 });
    const b = limits.create({ name: 'test:batch:b', points: 100, durationSeconds: 600 });
    let counted: Promise<unknown> | undefined;
    const refused = db.db
      .transaction()
      .execute(async (trx) => {
        await trx.insertInto('audit_events').values(AUDIT_ROW).execute();
        counted = limits.batch(async (batch) => {
          await a.in(batch).consume('victim');
          await b.in(batch).consume('victim');
        });
        await new Promise((r) => setTimeout(r, 20));
        throw new Error('refused change');
      })
      .catch((e: Error) => e.message);
    expect(await refused).toBe('refused change');
    await counted;
    expect([(await a.peek('victim')).consumed, (await b.peek('victim')).consumed]).toEqual([1, 1]);
  });

  it('when 30 batches race on one counter with failing transactions between them then every count is kept and each batch saw its own', async () => {
    const { limits, db } = t.system.platform;
    const l = limits.create({ name: 'test:batch:race', points: 10, durationSeconds: 600, blockSeconds: 600 });
    const failing = Array.from({ length: 10 }, () =>
      db.db
        .transaction()
        .execute(async (trx) => {
          await trx.insertInto('audit_events').values(AUDIT_ROW).execute();
          throw new Error('refused');
        })
        .catch(() => undefined),
    );
    const seen = await Promise.all(Array.from({ length: 30 }, () => limits.batch(async (batch) => (await l.in(batch).consume('k')).allowed)));
    await Promise.all(failing);
    // A refusal is an answer, so it commits: exactly the limit's 10 got through, and the block stands.
    expect(seen.filter(Boolean)).toHaveLength(10);
    expect((await l.peek('k')).retryAfterSeconds).toBeGreaterThan(500);
  });

  it('when the work of a batch throws then its counts are taken back together and the error reaches the caller', async () => {
    const { limits } = t.system.platform;
    const l = limits.create({ name: 'test:batch:throw', points: 100, durationSeconds: 600 });
    const failed = limits
      .batch(async (batch) => {
        await l.in(batch).consume('k');
        throw new Error('store failed');
      })
      .catch((e: Error) => e.message);
    expect(await failed).toBe('store failed');
    expect((await l.peek('k')).consumed).toBe(0);
  });

  it('when a counter is used through a batch that has ended then the call is refused', async () => {
    const { limits } = t.system.platform;
    const l = limits.create({ name: 'test:batch:late', points: 100, durationSeconds: 600 });
    let kept: Parameters<typeof l.in>[0] | undefined;
    await limits.batch(async (batch) => {
      kept = batch;
    });
    await expect(l.in(kept!).consume('k')).rejects.toThrow(/after it ended/);
    expect((await l.peek('k')).consumed).toBe(0);
  });

  it('when the work of a batch waits for the database it holds (a Kysely query in it) then it fails as busy within 5 s, its counts are taken back, and the database serves again', async () => {
    const { limits, db } = t.system.platform;
    const l = limits.create({ name: 'test:batch:stuck', points: 100, durationSeconds: 600 });
    const started = Date.now();
    const failed = await limits
      .batch(async (batch) => {
        await l.in(batch).consume('k');
        await db.db.selectFrom('audit_events').select('id').limit(1).execute();
        await l.in(batch).consume('k');
      })
      .then(
        () => undefined,
        (e: Error & { code?: string }) => e,
      );
    expect(failed?.code).toBe('SQLITE_BUSY');
    expect(Date.now() - started).toBeLessThan(7000);
    expect((await l.peek('k')).consumed).toBe(0);
    expect(await db.db.selectFrom('audit_events').select('id').limit(1).execute()).toBeDefined();
  }, 15_000);
});
