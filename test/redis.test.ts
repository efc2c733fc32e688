// With REDIS_URL, rate-limit counters and cross-instance events go through Redis: two instances
// must count together and hear each other, with nothing left in the database's counter table.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateDevice, DeviceClient } from '../src/authenticator/client.js';
import { forEachDatabase, freshSchema } from './helpers/databases.js';
import { startTestSystem, type TestSystem } from './helpers/system.js';
import { activationLink, collectEvents, createApproval, sleep } from './onetouch/helpers.js';
import { authy, registerUser } from './verify/helpers.js';

const REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

async function redisReachable(): Promise<boolean> {
  const r = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

const reachable = await redisReachable();
if (!reachable) {
  const msg = `Redis at ${REDIS_URL} is unreachable: the Redis suite is SKIPPED.`;
  if (process.env['CI'] === 'true') throw new Error(`${msg} CI requires it.`);
  console.warn(msg);
}

forEachDatabase((kind) => {
  describe.runIf(reachable)(`Redis for counters and events (${kind})`, () => {
    const prefix = `tf_test_${randomBytes(4).toString('hex')}`;
    const dataDir = mkdtempSync(join(tmpdir(), 'twofold-redis-'));
    const pgSchema = kind === 'postgres' ? freshSchema() : undefined;
    let a: TestSystem;
    let b: TestSystem;
    const redis = new Redis(REDIS_URL);

    beforeAll(async () => {
      const shared = { db: kind, dataDir, ...(pgSchema ? { pgSchema } : {}), env: { REDIS_URL, REDIS_KEY_PREFIX: prefix } } as const;
      a = await startTestSystem(shared);
      b = await startTestSystem(shared);
    });
    afterAll(async () => {
      await b?.stop();
      await a?.stop();
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('when SMS are requested alternately on two instances then one per-phone cap counts them all, in Redis', async () => {
      const id = await registerUser(a.url, a.apiKey);
      const statuses: number[] = [];
      for (const t of [a, b, a, b, a, b]) statuses.push((await authy(t.url, t.apiKey, 'GET', `/protected/json/sms/${id}`)).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
      // The counters are Redis keys under this deployment's prefix, not rows in the database.
      expect((await redis.keys(`${prefix}:rl:*`)).length).toBeGreaterThan(0);
      const table = await sql<{ n: number }>`select count(*) as n from rate_limits`.execute(a.system.db).catch(() => ({ rows: [{ n: 0 }] }));
      expect(Number(table.rows[0]?.n ?? 0)).toBe(0);
    });

    it('when a request is created on one instance then a device streaming from the other hears it live', async () => {
      const id = await registerUser(a.url, a.apiKey);
      const device = new DeviceClient(await activateDevice(await activationLink(a.url, a.apiKey, id), { name: 'phone', serviceUrl: b.url }));
      const stream = collectEvents(device);
      await sleep(300);
      const c = await createApproval(a.url, a.apiKey, id, { message: 'through Redis' });
      const uuid = c.body['approval_request'].uuid as string;
      await stream.until(() => stream.events.some((e) => e.type === 'approval_request' && e.request.uuid === uuid));
      await stream.close();
    });
  });
});
