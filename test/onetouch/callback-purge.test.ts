import type { KyselyPlugin } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/platform/clock.js';
import { KEEP_DELIVERED_MS, KEEP_GIVEN_UP_MS, PURGE_BATCH } from '../../src/verify/onetouch/callback-outbox.js';
import { CallbackWorker } from '../../src/verify/onetouch/callbacks.js';
import { directoryOf, oneTouchPlatform } from '../helpers/contexts.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { createApp } from './helpers.js';

const DAY = 24 * 60 * 60 * 1000;

forEachDatabase((kind) => {
  describe(`callback outbox purge (${kind})`, () => {
    let ts: TestSystem;
    let appId: number;
    // Ahead of the test system's own worker and sweep, which then never find these rows due or old.
    const clock = new ManualClock(Date.now() + 365 * DAY);
    let deletes = 0;
    const countDeletes: KyselyPlugin = {
      transformQuery({ node }) {
        if (/delete from callback_outbox/i.test(JSON.stringify(node))) deletes++;
        return node;
      },
      transformResult: ({ result }) => Promise.resolve(result),
    };
    beforeAll(async () => {
      ts = await startTestSystem({ db: kind });
      appId = (await createApp(ts, 'http://127.0.0.1:9/cb', `Purge ${kind}`)).id;
    });
    afterAll(async () => {
      await ts.stop();
    });

    function worker(): CallbackWorker {
      const p = ts.system.platform;
      return new CallbackWorker(oneTouchPlatform({ ...p, clock, db: { ...p.db, db: p.db.db.withPlugin(countDeletes) } }), directoryOf(p));
    }

    async function put(tag: string, o: { createdAgo: number; deliveredAgo?: number; gaveUpAgo?: number; leased?: boolean }, n = 1): Promise<string[]> {
      const now = clock.now();
      const uuids = Array.from({ length: n }, (_, i) => `${tag}-${kind}-${now}-${i}`);
      const at = (ago: number | undefined) => (ago === undefined ? null : now - ago);
      for (let i = 0; i < n; i += 500) {
        await ts.system.db
          .insertInto('callback_outbox')
          .values(
            uuids.slice(i, i + 500).map((uuid) => ({
              approval_uuid: uuid, app_id: appId, url: 'http://127.0.0.1:9/cb', body: '{}', created_at: now - o.createdAgo, next_attempt_at: now + DAY,
              lease_until: o.leased ? now + 1000 : null, delivered_at: at(o.deliveredAgo), gave_up_at: at(o.gaveUpAgo), last_error: null,
            })),
          )
          .execute();
      }
      return uuids;
    }
    const left = async (uuids: string[]) => (await ts.system.db.selectFrom('callback_outbox').select('approval_uuid').where('approval_uuid', 'in', uuids).execute()).length;

    it('when the sweep runs then delivered rows older than 7 days and given-up rows older than 30 go, and no undelivered row ever does', async () => {
      const oldDelivered = await put('old-delivered', { createdAgo: 9 * DAY, deliveredAgo: KEEP_DELIVERED_MS + 1 });
      const newDelivered = await put('new-delivered', { createdAgo: 7 * DAY, deliveredAgo: KEEP_DELIVERED_MS - 1000 });
      const oldGivenUp = await put('old-given-up', { createdAgo: 32 * DAY, gaveUpAgo: KEEP_GIVEN_UP_MS + 1 });
      const newGivenUp = await put('new-given-up', { createdAgo: 30 * DAY, gaveUpAgo: KEEP_GIVEN_UP_MS - 1000 });
      // Undelivered, however old (a row the worker never got to, one being sent right now).
      const waiting = await put('waiting', { createdAgo: 60 * DAY });
      const sending = await put('sending', { createdAgo: 60 * DAY, leased: true });

      expect(await worker().purge()).toBe(2);
      expect(await left([...oldDelivered, ...oldGivenUp])).toBe(0);
      expect(await left([...newDelivered, ...newGivenUp, ...waiting, ...sending])).toBe(4);
      // Later the rows kept cross their age and go too; the undelivered ones still stay.
      clock.advance(2000);
      expect(await worker().purge()).toBe(2);
      expect(await left([...waiting, ...sending])).toBe(2);
    });

    it('when thousands of rows are old then each statement deletes at most 1,000 of them', async () => {
      const many = await put('many', { createdAgo: 20 * DAY, deliveredAgo: 10 * DAY }, 2 * PURGE_BATCH + 500);
      const kept = await put('kept', { createdAgo: 20 * DAY });
      deletes = 0;
      expect(await worker().purge()).toBe(many.length);
      // Three batches of delivered rows (1,000, 1,000, 500) and one (empty) of given-up rows.
      expect(deletes).toBe(4);
      expect(await left(many)).toBe(0);
      expect(await left(kept)).toBe(1);
    });
  });
});
