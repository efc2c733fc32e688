// Threat: callback-starvation. A relying app whose callback receiver never answers (each send then
// lasts its whole timeout), or that floods the outbox, must not delay another app's callbacks: sends
// run in bounded slots, at most 5 per app, and a claim takes of each app only its share.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/platform/clock.js';
import { CallbackWorker, MAX_IN_FLIGHT_PER_APP, SEND_TIMEOUT_MS, retryDelayMs } from '../../src/verify/onetouch/callbacks.js';
import { directoryOf, oneTouchPlatform } from '../helpers/contexts.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { CallbackReceiver, createApp, sleep } from '../onetouch/helpers.js';

forEachDatabase((kind) => {
  describe(`callback-starvation (${kind})`, () => {
    let ts: TestSystem;
    const rxA = new CallbackReceiver();
    const rxB = new CallbackReceiver();
    let appA: number;
    let appB: number;
    // The workers' time, a year ahead of the test system's own worker, which never finds these rows due.
    const clock = new ManualClock(Date.now() + 365 * 24 * 60 * 60 * 1000);
    const workers: CallbackWorker[] = [];
    let release: () => void = () => undefined;

    beforeAll(async () => {
      ts = await startTestSystem({ db: kind });
      await rxA.start();
      await rxB.start();
      appA = (await createApp(ts, rxA.url, `Starver ${kind}`)).id;
      appB = (await createApp(ts, rxB.url, `Starved ${kind}`)).id;
    });
    afterEach(async () => {
      release();
      rxA.answer = undefined;
      for (const w of workers.splice(0)) await w.stop();
      await ts.system.db.updateTable('callback_outbox').set({ gave_up_at: clock.now() }).where('app_id', 'in', [appA, appB]).where('delivered_at', 'is', null).execute();
    });
    afterAll(async () => {
      await ts.stop();
      await rxA.stop();
      await rxB.stop();
    });

    function worker(limits?: { total: number; perApp: number }): CallbackWorker {
      const w = new CallbackWorker(oneTouchPlatform({ ...ts.system.platform, clock }), directoryOf(ts.system.platform), 100, limits);
      workers.push(w);
      return w;
    }

    /** Queue `n` callbacks of an app, due `ageMs` ago (the earliest go first). */
    async function queue(appId: number, url: string, n: number, tag: string, ageMs = 0): Promise<string[]> {
      const at = clock.now() - ageMs;
      const uuids = Array.from({ length: n }, (_, i) => `${tag}-${kind}-${at}-${i}`);
      await ts.system.db
        .insertInto('callback_outbox')
        .values(uuids.map((uuid, i) => ({ approval_uuid: uuid, app_id: appId, url, body: JSON.stringify({ uuid, status: 'approved' }), created_at: at, next_attempt_at: at + i, lease_until: null, delivered_at: null, gave_up_at: null, last_error: null })))
        .execute();
      return uuids;
    }
    const got = (rx: CallbackReceiver, uuid: string) => rx.received.filter((x) => x.body['uuid'] === uuid).length;
    async function until(ok: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
      const end = Date.now() + ms;
      while (!(await ok()) && Date.now() < end) await sleep(20);
      expect(await ok()).toBe(true);
    }

    it("when app A's receiver never answers then app B's callback is delivered promptly, and A's are retried later, not lost", async () => {
      let held = 0;
      const gate = new Promise<void>((r) => (release = r));
      rxA.answer = async () => {
        held++;
        await gate;
        return 500;
      };
      // More than the worker's slots in all (50): A alone could fill every one.
      const stuck = await queue(appA, rxA.url, 60, 'hung', 1000);
      const w = worker();
      w.start();
      // A fills its slots (5) and holds them: each send would last SEND_TIMEOUT_MS (10 s).
      await until(() => held >= MAX_IN_FLIGHT_PER_APP);
      const t0 = Date.now();
      const [b] = await queue(appB, rxB.url, 1, 'prompt');
      await rxB.waitFor(1, SEND_TIMEOUT_MS);
      const tookMs = Date.now() - t0;
      console.log(`[callback-starvation ${kind}] B delivered ${tookMs} ms after queuing, with A's receiver holding ${held} sends`);
      expect(got(rxB, b!)).toBe(1);
      expect(tookMs).toBeLessThan(2_000);
      // Meanwhile A never had more than its share in flight, and none of its rows is lost.
      expect(held).toBe(MAX_IN_FLIGHT_PER_APP);
      const pending = await ts.system.db.selectFrom('callback_outbox').select('id').where('approval_uuid', 'in', stuck).where('delivered_at', 'is', null).execute();
      expect(pending).toHaveLength(stuck.length);
      // A's receiver refuses the held sends (500) and then recovers: every one of A's arrives once.
      rxA.answer = undefined;
      release();
      const refused = () => ts.system.db.selectFrom('callback_outbox').select('id').where('approval_uuid', 'in', stuck).where('last_error', '=', 'HTTP 500').where('lease_until', 'is', null).execute();
      await until(async () => (await refused()).length === MAX_IN_FLIGHT_PER_APP && stuck.filter((u) => got(rxA, u) === 1).length === stuck.length - MAX_IN_FLIGHT_PER_APP);
      clock.advance(retryDelayMs(1));
      await until(() => stuck.every((u) => got(rxA, u) === 1));
      expect(stuck.map((u) => got(rxA, u))).toEqual(stuck.map(() => 1));
      // The receiver has the POST just before the worker records the delivery.
      const rows = () => ts.system.db.selectFrom('callback_outbox').select(['attempts', 'delivered_at']).where('approval_uuid', 'in', stuck).execute();
      await until(async () => (await rows()).every((r) => r.delivered_at !== null));
      const retried = await rows();
      expect(retried.filter((r) => r.attempts >= 2)).toHaveLength(MAX_IN_FLIGHT_PER_APP);
    });

    it("when app A floods the outbox with 200 callbacks then app B's one, queued after them, goes out in the next pass", async () => {
      const flood = await queue(appA, rxA.url, 200, 'flood', 5000);
      const [b] = await queue(appB, rxB.url, 1, 'after-flood');
      const w = worker();
      const delivered = await w.deliverDue();
      expect(got(rxB, b!)).toBe(1);
      expect(delivered).toBe(MAX_IN_FLIGHT_PER_APP + 1);
      // The flood still drains: a send that ends wakes the loop for A's next share (not only the timer).
      const t0 = Date.now();
      w.start();
      await until(() => flood.every((u) => got(rxA, u) === 1), 20_000);
      console.log(`[callback-starvation ${kind}] A's flood of 200 drained in ${Date.now() - t0} ms, 5 at a time`);
    });

    // Control: the test above measures the share, not how the rows happen to be ordered.
    it("when an app's share is a whole batch (the claim before shares) then the flood fills the pass and B waits", async () => {
      await queue(appA, rxA.url, 200, 'old', 5000);
      const [b] = await queue(appB, rxB.url, 1, 'old-after');
      await worker({ total: 50, perApp: 50 }).deliverDue();
      expect(got(rxB, b!)).toBe(0);
    });
  });
});
