import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateDevice, DeviceClient } from '../../src/authenticator/client.js';
import { verifyCallbackSignature } from '../../src/platform/authy-signature.js';
import { ManualClock } from '../../src/platform/clock.js';
import { CallbackWorker, GIVE_UP_AFTER_MS, retryDelayMs } from '../../src/verify/onetouch/callbacks.js';
import { loadAppSigningKey, storeAppSigningKey } from '../../src/verify/onetouch/signing-keys.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { activationLink, CallbackReceiver, createApp, createApproval, registerUser, sleep, userWithDevice } from './helpers.js';

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
      const failing = await ts.system.platform.db.db.selectFrom('callback_outbox').selectAll().where('approval_uuid', '=', uuid).executeTakeFirstOrThrow();
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
        row = await ts.system.platform.db.db.selectFrom('callback_outbox').selectAll().where('approval_uuid', '=', uuid).executeTakeFirstOrThrow();
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
        await ts.system.platform.db.db.updateTable('apps').set({ callback_url: moved.url }).where('id', '=', app.id).execute();
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
        await ts.system.platform.db.db.updateTable('apps').set({ callback_url: rx.url }).where('id', '=', app.id).execute();
        await moved.stop();
      }
    });

    it('when two workers race for the same due row then it is sent once', async () => {
      const p = ts.system.platform;
      const before = rx.received.length;
      const now = p.clock.now();
      await p.db.db
        .insertInto('callback_outbox')
        .values({ approval_uuid: `manual-${kind}-${now}`, app_id: app.id, url: rx.url, body: JSON.stringify({ uuid: `manual-${now}`, status: 'approved' }), created_at: now, next_attempt_at: now, lease_until: null, delivered_at: null, gave_up_at: null, last_error: null })
        .execute();
      const workers = [new CallbackWorker(p), new CallbackWorker(p), new CallbackWorker(p)];
      await Promise.all(workers.map((w) => w.deliverDue()));
      await sleep(1200);
      expect(rx.received.length - before).toBe(1);
    });

    it('when the app has no stored signing key then nothing unsigned is sent, and storing it later delivers', async () => {
      const p = ts.system.platform;
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
      const p = ts.system.platform;
      const row = await p.db.db.selectFrom('app_signing_keys').selectAll().where('app_id', '=', app.id).executeTakeFirstOrThrow();
      expect(row.sealed_key).not.toContain(app.apiKey);
      expect(await loadAppSigningKey(p, app.id)).toBe(app.apiKey);
      const other = await createApp(ts, null, 'Swap target');
      await p.db.db.updateTable('app_signing_keys').set({ sealed_key: row.sealed_key }).where('app_id', '=', other.id).execute();
      await expect(loadAppSigningKey(p, other.id)).rejects.toThrow();
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
    const db = ts.system.platform.db.db;
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
