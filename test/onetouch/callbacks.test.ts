import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { KyselyPlugin, QueryId } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { activateDevice, DeviceClient } from '../../src/authenticator/client.js';
import { verifyCallbackSignature } from '../../src/platform/authy-signature.js';
import { ManualClock } from '../../src/platform/clock.js';
import type { Platform } from '../../src/platform/context.js';
import { openDatabase, type Db } from '../../src/platform/db.js';
import { CallbackWorker, GIVE_UP_AFTER_MS, LEASE_MS, retryDelayMs } from '../../src/verify/onetouch/callbacks.js';
import { loadAppSigningKey, storeAppSigningKey } from '../../src/verify/onetouch/signing-keys.js';
import { forEachDatabase, pgUrl } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { activationLink, CallbackReceiver, createApp, createApproval, registerUser, sleep, userWithDevice } from './helpers.js';
import { directoryOf, oneTouchPlatform } from '../helpers/contexts.js';

async function approveOne(ts: TestSystem, apiKey: string, device?: DeviceClient, userId?: number): Promise<string> {
  let d = device;
  let u = userId;
  if (!d || !u) ({ device: d, userId: u } = await userWithDevice(ts, apiKey));
  const c = await createApproval(ts.url, apiKey, u);
  const uuid = c.body['approval_request'].uuid as string;
  const shown = (await d.pending()).find((r) => r.uuid === uuid)!;
  expect(await d.respond(uuid, 'approve', null, shown)).toBe('approved');
  return uuid;
}

describe('callback retry schedule', () => {
  it('when attempts fail then the delay doubles from 1 s and stops growing at an hour', () => {
    expect([1, 2, 3, 4, 5].map(retryDelayMs)).toEqual([1000, 2000, 4000, 8000, 16000]);
    expect(retryDelayMs(13)).toBe(3_600_000);
    expect(retryDelayMs(500)).toBe(3_600_000);
  });
});

forEachDatabase((kind) => {
  describe(`OneTouch callback outbox (${kind})`, () => {
    let ts: TestSystem;
    const rx = new CallbackReceiver();
    let app: { id: number; apiKey: string };
    beforeAll(async () => {
      ts = await startTestSystem({ db: kind });
      await rx.start();
      app = await createApp(ts, rx.url, `Callbacks ${kind}`);
    });
    afterAll(async () => {
      await ts.stop();
      await rx.stop();
    });

    it('when the app answers 500 then the callback is retried until it is accepted', async () => {
      rx.status = 500;
      const uuid = await approveOne(ts, app.apiKey);
      await sleep(1500);
      const failing = await ts.system.db.selectFrom('callback_outbox').selectAll().where('approval_uuid', '=', uuid).executeTakeFirstOrThrow();
      expect(failing.delivered_at).toBeNull();
      expect(failing.attempts).toBeGreaterThanOrEqual(1);
      expect(failing.last_error).toBe('HTTP 500');
      rx.status = 200;
      const before = rx.received.length;
      await rx.waitFor(before + 1, 15_000);
      const cb = rx.received.find((x) => x.body['uuid'] === uuid)!;
      expect(
        verifyCallbackSignature({ apiKey: app.apiKey, nonce: String(cb.headers['x-authy-signature-nonce']), method: 'POST', url: rx.url, body: cb.body, signature: String(cb.headers['x-authy-signature']) }),
      ).toBe(true);
      // The receiver sees the POST just before the worker records the delivery.
      let row = failing;
      for (let i = 0; i < 50 && row.delivered_at === null; i++) {
        await sleep(50);
        row = await ts.system.db.selectFrom('callback_outbox').selectAll().where('approval_uuid', '=', uuid).executeTakeFirstOrThrow();
      }
      expect(row.delivered_at).not.toBeNull();
      expect(row.attempts).toBeGreaterThanOrEqual(2);
    });

    it('when the app corrects its callback URL then callbacks already queued go to the new one', async () => {
      const moved = new CallbackReceiver();
      await moved.start();
      try {
        rx.status = 500;
        const uuid = await approveOne(ts, app.apiKey);
        await sleep(1200);
        await ts.system.db.updateTable('apps').set({ callback_url: moved.url }).where('id', '=', app.id).execute();
        rx.status = 200;
        const [cb] = await moved.waitFor(1, 15_000);
        expect(cb!.body['uuid']).toBe(uuid);
        // Signed over the URL it was sent to.
        expect(
          verifyCallbackSignature({ apiKey: app.apiKey, nonce: String(cb!.headers['x-authy-signature-nonce']), method: 'POST', url: moved.url, body: cb!.body, signature: String(cb!.headers['x-authy-signature']) }),
        ).toBe(true);
        expect(rx.received.some((x) => x.body['uuid'] === uuid)).toBe(false);
      } finally {
        rx.status = 200;
        await ts.system.db.updateTable('apps').set({ callback_url: rx.url }).where('id', '=', app.id).execute();
        await moved.stop();
      }
    });

    it('when two workers race for the same due row then it is sent once', async () => {
      const p = oneTouchPlatform(ts.system.platform);
      const before = rx.received.length;
      const now = p.clock.now();
      await p.db.db
        .insertInto('callback_outbox')
        .values({ approval_uuid: `manual-${kind}-${now}`, app_id: app.id, url: rx.url, body: JSON.stringify({ uuid: `manual-${now}`, status: 'approved' }), created_at: now, next_attempt_at: now, lease_until: null, delivered_at: null, gave_up_at: null, last_error: null })
        .execute();
      const workers = [new CallbackWorker(p, directoryOf(ts.system.platform)), new CallbackWorker(p, directoryOf(ts.system.platform)), new CallbackWorker(p, directoryOf(ts.system.platform))];
      await Promise.all(workers.map((w) => w.deliverDue()));
      await sleep(1200);
      expect(rx.received.length - before).toBe(1);
    });

    it('when the app has no stored signing key then nothing unsigned is sent, and storing it later delivers', async () => {
      const p = oneTouchPlatform(ts.system.platform);
      const keyless = await createApp(ts, rx.url, 'Keyless');
      await p.db.db.deleteFrom('app_signing_keys').where('app_id', '=', keyless.id).execute();
      rx.received.length = 0;
      const uuid = await approveOne(ts, keyless.apiKey);
      await sleep(800);
      expect(rx.received.filter((x) => x.body['uuid'] === uuid)).toHaveLength(0);
      await storeAppSigningKey(p, keyless.id, keyless.apiKey);
      await rx.waitFor(1, 15_000);
      expect(rx.received[0]!.body['uuid']).toBe(uuid);
    });

    it('when the signing key is read back then it is sealed at rest and bound to its app', async () => {
      const p = oneTouchPlatform(ts.system.platform);
      const row = await p.db.db.selectFrom('app_signing_keys').selectAll().where('app_id', '=', app.id).executeTakeFirstOrThrow();
      expect(row.sealed_key).not.toContain(app.apiKey);
      expect(await loadAppSigningKey(p, app.id)).toBe(app.apiKey);
      const other = await createApp(ts, null, 'Swap target');
      await p.db.db.updateTable('app_signing_keys').set({ sealed_key: row.sealed_key }).where('app_id', '=', other.id).execute();
      await expect(loadAppSigningKey(p, other.id)).rejects.toThrow();
    });

    it('when the app answers 200 with a body that never ends then the callback is recorded at once, the body never read', async () => {
      const endless = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        const drip = setInterval(() => res.write('x'.repeat(64 * 1024)), 5);
        res.on('close', () => clearInterval(drip));
      });
      await new Promise<void>((r) => endless.listen(0, '127.0.0.1', r));
      try {
        const endlessApp = await createApp(ts, `http://127.0.0.1:${(endless.address() as AddressInfo).port}/cb`, `Endless ${kind}`);
        const uuid = await approveOne(ts, endlessApp.apiKey);
        const t0 = Date.now();
        let row = await ts.system.db.selectFrom('callback_outbox').select('delivered_at').where('approval_uuid', '=', uuid).executeTakeFirstOrThrow();
        while (row.delivered_at === null && Date.now() - t0 < 8_000) {
          await sleep(100);
          row = await ts.system.db.selectFrom('callback_outbox').select('delivered_at').where('approval_uuid', '=', uuid).executeTakeFirstOrThrow();
        }
        // Reading the body would last until the send's 10 s budget cut it off.
        expect(row.delivered_at).not.toBeNull();
      } finally {
        endless.closeAllConnections();
        await new Promise((r) => endless.close(r));
      }
    });

    it('when a request is denied then the callback says denied, and expired requests never call back', async () => {
      const { device, userId } = await userWithDevice(ts, app.apiKey);
      const c = await createApproval(ts.url, app.apiKey, userId);
      const uuid = c.body['approval_request'].uuid as string;
      await device.respond(uuid, 'deny', null, (await device.pending())[0]!);
      const before = rx.received.length;
      await rx.waitFor(before + 1);
      expect(rx.received.find((x) => x.body['uuid'] === uuid)!.body['status']).toBe('denied');
    });
  });
});

describe('built-in app callbacks', () => {
  let ts: TestSystem;
  const rx = new CallbackReceiver();
  beforeAll(async () => {
    await rx.start();
    ts = await startTestSystem({ env: { PUBLIC_URL: `http://127.0.0.1:${rx.port}` } });
  });
  afterAll(async () => {
    await ts.stop();
    await rx.stop();
  });

  it('when the built-in app gets an answer then the callback goes to PUBLIC_URL/authy/callback signed with its key', async () => {
    const userId = await registerUser(ts.url, ts.apiKey);
    const link = await activationLink(ts.url, ts.apiKey, userId);
    const device = new DeviceClient(await activateDevice(link, { name: 'builtin', serviceUrl: ts.url }));
    await approveOne(ts, ts.apiKey, device, userId);
    const [cb] = await rx.waitFor(1);
    expect(cb!.url).toBe('/authy/callback');
    expect(
      verifyCallbackSignature({ apiKey: ts.apiKey, nonce: String(cb!.headers['x-authy-signature-nonce']), method: 'POST', url: rx.url, body: cb!.body, signature: String(cb!.headers['x-authy-signature']) }),
    ).toBe(true);
  });
});

describe('giving up', () => {
  let ts: TestSystem;
  const clock = new ManualClock();
  beforeAll(async () => {
    ts = await startTestSystem({ clock });
  });
  afterAll(async () => {
    await ts.stop();
  });

  it('when the app stays unreachable for 24 hours then delivery stops and is logged', async () => {
    const app = await createApp(ts, 'http://127.0.0.1:9/authy/callback', 'Unreachable');
    const uuid = await approveOne(ts, app.apiKey);
    const db = ts.system.db;
    const row = () => db.selectFrom('callback_outbox').selectAll().where('approval_uuid', '=', uuid).executeTakeFirstOrThrow();
    await sleep(800);
    const first = await row();
    expect(first.attempts).toBeGreaterThanOrEqual(1);
    expect(first.gave_up_at).toBeNull();
    // An hour later it is retried again (backoff never exceeds an hour).
    clock.advance(60 * 60 * 1000);
    await sleep(800);
    expect((await row()).attempts).toBeGreaterThan(first.attempts);
    clock.advance(GIVE_UP_AFTER_MS);
    await sleep(800);
    const last = await row();
    expect(last.gave_up_at).not.toBeNull();
    expect(last.delivered_at).toBeNull();
    expect(ts.logs.some((l) => l.includes('callback given up after 24 hours'))).toBe(true);
    const attempts = last.attempts;
    clock.advance(2 * 60 * 60 * 1000);
    await sleep(800);
    expect((await row()).attempts).toBe(attempts);
  });
});

forEachDatabase((kind) => {
  /**
   * Several service instances share the outbox. Each claims rows with a lease; a lease lapses when
   * its holder dies (or stalls) mid-send, and another instance then sends the row. A callback
   * recorded as delivered must never go out again, and no two instances may send one at once.
   */
  describe(`callback leases between instances (${kind})`, () => {
    let ts: TestSystem & { pgSchema: string | undefined };
    const rx = new CallbackReceiver();
    let appId: number;
    // The instances' time, a year ahead of the test system's own worker, which never finds these rows due.
    const clock = new ManualClock(Date.now() + 365 * 24 * 60 * 60 * 1000);
    const opened: Db[] = [];
    const stalled: (() => void)[] = [];
    beforeAll(async () => {
      ts = await startTestSystem({ db: kind });
      await rx.start();
      appId = (await createApp(ts, rx.url, `Leases ${kind}`)).id;
    });
    afterEach(async () => {
      // What a failed test left behind must not be claimed by the next one.
      for (const resume of stalled.splice(0)) resume();
      await ts.system.db.updateTable('callback_outbox').set({ gave_up_at: clock.now() }).where('app_id', '=', appId).where('delivered_at', 'is', null).execute();
    });
    afterAll(async () => {
      for (const db of opened) await db.close();
      await ts.stop();
      await rx.stop();
    });

    /**
     * Another instance: its own connection to the shared database. One that `stalls` hangs on
     * reading the app's signing key, i.e. after claiming its rows and before sending them, until
     * `resume()` (a process paused or cut off from its database mid-send, or killed: never resumed).
     */
    function instance(stalls = false) {
      const db = openDatabase(kind === 'postgres' ? { databaseUrl: pgUrl(), pgSchema: ts.pgSchema!, pgPoolSize: 2 } : { sqliteFile: join(ts.dataDir, 'twofold.sqlite') });
      opened.push(db);
      let resume!: () => void;
      const gate = new Promise<void>((r) => (resume = r));
      stalled.push(resume);
      const held = new WeakSet<QueryId>();
      const state = { stalled: 0 };
      const stall: KyselyPlugin = {
        transformQuery({ node, queryId }) {
          if (node.kind === 'SelectQueryNode' && JSON.stringify(node).includes('"app_signing_keys"')) held.add(queryId);
          return node;
        },
        async transformResult({ result, queryId }) {
          if (held.has(queryId)) {
            state.stalled++;
            await gate;
          }
          return result;
        },
      };
      const p: Platform = { ...ts.system.platform, clock, db: stalls ? { ...db, db: db.db.withPlugin(stall) } : db };
      // One app here: its share is a whole batch (50), so one claim may take every row.
      const worker = new CallbackWorker(oneTouchPlatform(p), directoryOf(ts.system.platform), 500, { total: 50, perApp: 50 });
      return { worker, resume, stalled: () => state.stalled };
    }

    async function queue(n: number, tag: string): Promise<string[]> {
      const now = clock.now();
      const uuids = Array.from({ length: n }, (_, i) => `${tag}-${kind}-${now}-${i}`);
      await ts.system.db
        .insertInto('callback_outbox')
        .values(uuids.map((uuid) => ({ approval_uuid: uuid, app_id: appId, url: rx.url, body: JSON.stringify({ uuid, status: 'approved' }), created_at: now, next_attempt_at: now, lease_until: null, delivered_at: null, gave_up_at: null, last_error: null })))
        .execute();
      return uuids;
    }
    const sent = (uuid: string) => rx.received.filter((x) => x.body['uuid'] === uuid).length;
    const row = (uuid: string) => ts.system.db.selectFrom('callback_outbox').selectAll().where('approval_uuid', '=', uuid).executeTakeFirstOrThrow();
    async function until(ok: () => boolean): Promise<void> {
      for (let i = 0; i < 200 && !ok(); i++) await sleep(25);
      expect(ok()).toBe(true);
    }

    it('when an instance stalls past its lease between claiming a callback and sending it then it does not send it after another instance delivered it', async () => {
      const [uuid] = await queue(1, 'stall');
      const a = instance(true);
      const b = instance();
      const aDone = a.worker.deliverDue();
      await until(() => a.stalled() === 1);
      expect((await row(uuid!)).lease_until).toBe(clock.now() + LEASE_MS);
      clock.advance(LEASE_MS);
      // A's lease lapsed: B takes the row over and delivers it.
      expect(await b.worker.deliverDue()).toBe(1);
      expect((await row(uuid!)).delivered_at).not.toBeNull();
      expect(sent(uuid!)).toBe(1);
      // A comes back: the row is delivered and no longer its own.
      a.resume();
      expect(await aDone).toBe(0);
      await sleep(200);
      expect(sent(uuid!)).toBe(1);
    });

    it('when a send fails after its lease lapsed then its instance leaves alone the row another instance holds: no third one sends it too', async () => {
      const [uuid] = await queue(1, 'release');
      const a = instance();
      const b = instance(true);
      const c = instance();
      // A's send is slow and then refused; B's goes through.
      let refuseA!: () => void;
      const slowA = new Promise<void>((r) => (refuseA = r));
      let requests = 0;
      rx.answer = async () => {
        if (++requests > 1) return 200;
        await slowA;
        return 500;
      };
      try {
        const aDone = a.worker.deliverDue();
        await until(() => requests === 1);
        clock.advance(LEASE_MS);
        const bDone = b.worker.deliverDue();
        await until(() => b.stalled() === 1);
        const bLease = (await row(uuid!)).lease_until;
        expect(bLease).toBe(clock.now() + LEASE_MS);
        refuseA();
        expect(await aDone).toBe(0);
        // B still holds the row: A left it alone.
        expect((await row(uuid!)).lease_until).toBe(bLease);
        clock.advance(retryDelayMs(1));
        expect(await c.worker.deliverDue()).toBe(0);
        b.resume();
        expect(await bDone).toBe(1);
        await sleep(200);
        expect(sent(uuid!)).toBe(1);
      } finally {
        rx.answer = undefined;
      }
    });

    it('when 8 instances claim 60 callbacks at once and one dies mid-send then each is delivered exactly once, and the dead one sends nothing if it comes back', async () => {
      const uuids = await queue(60, 'burst');
      const dying = instance(true);
      const live = Array.from({ length: 7 }, () => instance());
      // The dying instance claims a batch (50) and hangs; the others drain what is left, all at once.
      const dyingDone = dying.worker.deliverDue();
      await until(() => dying.stalled() > 0);
      const delivered = (await Promise.all(live.map((i) => i.worker.deliverDue()))).reduce((a, b) => a + b, 0);
      const held = await ts.system.db.selectFrom('callback_outbox').select('approval_uuid').where('approval_uuid', 'in', uuids).where('delivered_at', 'is', null).execute();
      expect(held).toHaveLength(50);
      expect(delivered).toBe(10);
      // Its lease lapses; the others, together again, take its rows over.
      clock.advance(LEASE_MS);
      const second = (await Promise.all(live.map((i) => i.worker.deliverDue()))).reduce((a, b) => a + b, 0);
      expect(second).toBe(held.length);
      dying.resume();
      expect(await dyingDone).toBe(0);
      await sleep(300);
      expect(uuids.map(sent)).toEqual(uuids.map(() => 1));
      const rows = await ts.system.db.selectFrom('callback_outbox').select(['delivered_at', 'lease_until']).where('approval_uuid', 'in', uuids).execute();
      expect(rows.every((r) => r.delivered_at !== null && r.lease_until === null)).toBe(true);
    });
  });
});
