// The pieces several instances rely on, each on its own and in-process (the whole topology, as
// separate processes, is `npm run test:scale`): one migration when instances start together, the
// event bus reconnecting after its connection is killed, and a lost database answered 503 and
// recovered from without a restart.
import { createServer } from 'node:http';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDatabaseUnavailable, openDatabase, ensurePgSchema, type Db } from '../src/platform/db.js';
import { HttpError } from '../src/platform/errors.js';
import { PgEventBus } from '../src/platform/events.js';
import { toHttpError } from '../src/platform/http.js';
import { migrations } from '../src/migrations.js';
import { migrateToLatest } from '../src/platform/migrations/index.js';
import { ManualClock } from '../src/platform/clock.js';
import { CallbackWorker, LEASE_MS } from '../src/verify/onetouch/callbacks.js';
import { createApp } from './onetouch/helpers.js';
import { Browser, eventually, newUser, signUp } from './app/helpers.js';
import { freshSchema, pgAvailable, pgUrl } from './helpers/databases.js';
import { startTestSystem, type TestSystem } from './helpers/system.js';
import { TcpProxy } from './helpers/tcp-proxy.js';
import { directoryOf, oneTouchPlatform } from './helpers/contexts.js';

describe('database unavailability is told apart from bugs and client mistakes', () => {
  const cases: [string, unknown, boolean][] = [
    ['connection refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }), true],
    ['connection reset', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), true],
    ['node-postgres: terminated', new Error('Connection terminated unexpectedly'), true],
    ['node-postgres: pool timeout', new Error('timeout exceeded when trying to connect'), true],
    ['PostgreSQL shutting down (57P01)', Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }), true],
    ['PostgreSQL starting up (57P03)', Object.assign(new Error('the database system is starting up'), { code: '57P03' }), true],
    ['connection exception class 08', Object.assign(new Error('connection failure'), { code: '08006' }), true],
    ['too many connections (53300)', Object.assign(new Error('sorry, too many clients already'), { code: '53300' }), true],
    ['SQLite busy', Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }), true],
    ['PostgreSQL deadlock victim (40P01)', Object.assign(new Error('deadlock detected'), { code: '40P01' }), true],
    ['PostgreSQL serialization failure (40001)', Object.assign(new Error('could not serialize access'), { code: '40001' }), true],
    ['wrapped in a cause', new Error('query failed', { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) }), true],
    ['unique violation', Object.assign(new Error('duplicate key value'), { code: '23505' }), false],
    ['syntax error', Object.assign(new Error('syntax error at or near'), { code: '42601' }), false],
    ['a bug', new TypeError("Cannot read properties of undefined (reading 'id')"), false],
    ['a client mistake', new HttpError(400, 'VALIDATION', 'bad'), false],
    ['not an error', 'ECONNREFUSED', false],
  ];
  for (const [name, err, unavailable] of cases) {
    it(`when the error is ${name} then it is ${unavailable ? '' : 'not '}unavailability (${unavailable ? '503' : 'not 503'})`, () => {
      expect(isDatabaseUnavailable(err)).toBe(unavailable);
      const h = toHttpError(err);
      if (unavailable) {
        expect([h.status, h.code, h.options.headers?.['Retry-After']]).toEqual([503, 'UNAVAILABLE', '5']);
      } else {
        expect(h.status).not.toBe(503);
      }
    });
  }
});

describe.skipIf(!pgAvailable())('several instances on one PostgreSQL (in-process)', () => {
  it('when 5 instances migrate the same empty schema at once then one applies every migration and the others none', async () => {
    const schema = freshSchema();
    await ensurePgSchema(pgUrl(), schema);
    const dbs: Db[] = Array.from({ length: 5 }, () => openDatabase({ databaseUrl: pgUrl(), pgSchema: schema, pgPoolSize: 2 }));
    try {
      const applied = await Promise.all(dbs.map((d) => migrateToLatest(d, migrations)));
      const counts = applied.map((a) => a.length).sort((a, b) => a - b);
      expect(counts).toEqual([0, 0, 0, 0, Object.keys(migrations).length]);
    } finally {
      await Promise.all(dbs.map((d) => d.close()));
    }
  });

  it('when another instance holds the migration lock then migrating waits for it, touching nothing meanwhile', async () => {
    const schema = freshSchema();
    await ensurePgSchema(pgUrl(), schema);
    const holder = new pg.Client({ connectionString: pgUrl() });
    await holder.connect();
    const db = openDatabase({ databaseUrl: pgUrl(), pgSchema: schema, pgPoolSize: 2 });
    try {
      await holder.query('select pg_advisory_lock(hashtext($1))', [`twofold.migrate:${schema}`]);
      let done = false;
      const waiting = migrateToLatest(db, migrations).then((applied) => {
        done = true;
        return applied;
      });
      await new Promise((r) => setTimeout(r, 500));
      expect(done).toBe(false);
      const tables = await holder.query('select count(*)::int as n from information_schema.tables where table_schema = $1', [schema]);
      expect(tables.rows[0]).toEqual({ n: 0 });
      await holder.query('select pg_advisory_unlock(hashtext($1))', [`twofold.migrate:${schema}`]);
      expect(await waiting).toEqual(Object.keys(migrations));
    } finally {
      await holder.end();
      await db.close();
    }
  });

  describe('event bus', () => {
    let db: Db;
    let bus: PgEventBus;
    const channel = `tf_bus_${Math.random().toString(36).slice(2, 10)}`;
    beforeAll(async () => {
      db = openDatabase({ databaseUrl: pgUrl(), pgPoolSize: 2 });
      if (db.raw.kind !== 'postgres') throw new Error('postgres expected');
      bus = new PgEventBus(db.raw.pool, db.raw.connect, channel);
      await bus.start();
    });
    afterAll(async () => {
      await bus?.close();
      await db?.close();
    });

    it('when its listening connection is killed then it reconnects, says resync, and events flow again', async () => {
      const got: unknown[] = [];
      let resyncs = 0;
      bus.subscribe('probe', (p) => got.push(p));
      bus.onResync(() => resyncs++);
      await bus.publish('probe', { n: 1 });
      await eventually(async () => got.length === 1);

      const admin = new pg.Client({ connectionString: pgUrl() });
      await admin.connect();
      try {
        const killed = await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where query = $1", [`LISTEN ${channel}`]);
        expect(killed.rowCount).toBe(1);
      } finally {
        await admin.end();
      }
      await eventually(async () => !bus.healthy());
      await eventually(async () => bus.healthy() && resyncs === 1, 10_000);
      await bus.publish('probe', { n: 2 });
      await eventually(async () => got.length === 2);
      expect(got).toEqual([{ n: 1 }, { n: 2 }]);
    });
  });

  it('when the database goes away between a callback being sent and its delivery being recorded then it is recorded on its return and not sent twice', async () => {
    const link = new TcpProxy();
    const u = new URL(pgUrl());
    link.targets = [{ host: u.hostname, port: Number(u.port || 5432) }];
    await link.listen();
    u.hostname = '127.0.0.1';
    u.port = String(link.port);
    const t = await startTestSystem({ db: 'postgres', env: { DATABASE_URL: u.toString() } });
    // The app's endpoint: counts deliveries and, on the first, cuts the database link before answering 200.
    let received = 0;
    const rx = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        received++;
        if (received === 1) link.cut();
        res.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((r) => rx.listen(0, '127.0.0.1', () => r()));
    try {
      const p = t.system.platform;
      const app = await createApp(t, `http://127.0.0.1:${(rx.address() as { port: number }).port}/cb`, 'Outage callbacks');
      // Due only on this test's clock (half an hour ahead), so the instance's own worker leaves it alone.
      const due = Date.now() + 30 * 60 * 1000;
      await t.system.db
        .insertInto('callback_outbox')
        .values({ approval_uuid: `outage-${due}`, app_id: app.id, url: 'http://unused.invalid/', body: JSON.stringify({ uuid: `outage-${due}`, status: 'approved' }), created_at: due, next_attempt_at: due, lease_until: null, delivered_at: null, gave_up_at: null, last_error: null })
        .execute();
      const clock = new ManualClock(due + 1000);
      const worker = new CallbackWorker(oneTouchPlatform({ ...p, clock }), directoryOf(p));
      await worker.deliverDue().catch(() => undefined);
      expect(received).toBe(1);

      // The database returns after the send; later the claim's lease would have lapsed.
      link.restore();
      clock.advance(LEASE_MS + 5000);
      await eventually(async () => worker.deliverDue().then(() => true, () => false), 10_000);
      expect(received).toBe(1);
      const row = await t.system.db.selectFrom('callback_outbox').selectAll().where('approval_uuid', '=', `outage-${due}`).executeTakeFirstOrThrow();
      expect(row.delivered_at).toBe(due + 1000);
      expect(row.attempts).toBe(1);
    } finally {
      await new Promise<void>((r) => rx.close(() => r()));
      await t.stop();
      await link.close();
    }
  });

  describe('an instance whose database goes away', () => {
    const link = new TcpProxy();
    let t: TestSystem;
    beforeAll(async () => {
      const u = new URL(pgUrl());
      link.targets = [{ host: u.hostname, port: Number(u.port || 5432) }];
      await link.listen();
      u.hostname = '127.0.0.1';
      u.port = String(link.port);
      t = await startTestSystem({ db: 'postgres', env: { DATABASE_URL: u.toString() } });
    });
    afterAll(async () => {
      await t?.stop();
      await link.close();
    });

    it('when the database is unreachable then work is answered 503 and /readyz says why; when it returns the instance serves again by itself', async () => {
      const before = newUser();
      await signUp(new Browser(t.url), before);

      link.cut();
      const ready = await fetch(`${t.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ status: 'unavailable', checks: { database: 'unreachable' } });
      const signup = await new Browser(t.url).post('/user', newUser());
      expect(signup.status).toBe(503);
      expect(signup.headers.get('retry-after')).toBe('5');
      expect(signup.body).toEqual({ code: 'UNAVAILABLE', message: expect.any(String) });
      // A user's status needs the database (the app behind the key may be known from memory).
      const authy = await fetch(`${t.url}/protected/json/users/1/status`, { headers: { 'X-Authy-API-Key': t.apiKey } });
      expect(authy.status).toBe(503);

      link.restore();
      await eventually(async () => (await fetch(`${t.url}/readyz`)).status === 200, 10_000);
      const login = await new Browser(t.url).post('/session', { email: before.email, password: before.password });
      expect(login.status).toBe(200);
      await signUp(new Browser(t.url), newUser());
    });
  });
});
