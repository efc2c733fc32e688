// Web Push to authenticators (docs/device-api.md "Web Push"). Threats covered: a push that leaks
// what the lock screen must not show (details, the matching number), pushes reaching a revoked
// device, a stranger registering or removing a device's subscription, a slow or broken push
// service slowing or failing the Authy-compatible create call.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createECDH } from 'node:crypto';
import { DeviceClient } from '../../src/authenticator/client.js';
import { ConfigError, parseEnv } from '../../src/platform/config.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { createApp, createApproval, sleep, userWithDevice } from './helpers.js';
import { FakePushService, FakeSubscriber, verifyVapid } from './fake-push-service.js';

const APP_NAME = 'Push Test App';

async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(20);
  }
}

describe('VAPID configuration', () => {
  const pair = () => {
    const e = createECDH('prime256v1');
    e.generateKeys();
    return { VAPID_PUBLIC_KEY: e.getPublicKey().toString('base64url'), VAPID_PRIVATE_KEY: e.getPrivateKey().toString('base64url') };
  };

  it('when a matching key pair and a mailto subject are set then they are accepted', () => {
    const keys = pair();
    const e = parseEnv({ ...keys, VAPID_SUBJECT: 'mailto:ops@example.com' });
    expect(e.VAPID_PUBLIC_KEY).toBe(keys.VAPID_PUBLIC_KEY);
  });

  it.each([
    ['only the public key', () => ({ VAPID_PUBLIC_KEY: pair().VAPID_PUBLIC_KEY })],
    ['only the private key', () => ({ VAPID_PRIVATE_KEY: pair().VAPID_PRIVATE_KEY })],
    ['keys of two different pairs', () => ({ VAPID_PUBLIC_KEY: pair().VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY: pair().VAPID_PRIVATE_KEY })],
    ['a 33-byte compressed public key', () => ({ ...pair(), VAPID_PUBLIC_KEY: Buffer.alloc(33, 2).toString('base64url') })],
    ['a private key of zeros', () => ({ VAPID_PUBLIC_KEY: pair().VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY: Buffer.alloc(32).toString('base64url') })],
    ['an http subject', () => ({ VAPID_SUBJECT: 'http://example.com' })],
  ])('when the environment has %s then start-up refuses it naming VAPID', (_name, env) => {
    expect(() => parseEnv(env())).toThrow(ConfigError);
    expect(() => parseEnv(env())).toThrow(/VAPID_/);
  });
});

forEachDatabase((kind) => {
  describe(`Web Push to authenticators (${kind})`, () => {
    let ts: TestSystem;
    let app: { id: number; apiKey: string };
    const push = new FakePushService();

    beforeAll(async () => {
      await push.start();
      push.trustInThisProcess();
      ts = await startTestSystem({ db: kind, env: { PUSH_PER_USER_LIMIT: '1000' } });
      app = await createApp(ts, null, APP_NAME);
    });
    afterAll(async () => {
      await push.stop();
      await ts?.stop();
    });

    const vapidKey = () => ts.system.platform.config.vapid.publicKey;
    const subscribe = (device: DeviceClient, body: unknown) => device.request('PUT', `/v1/devices/${device.state.device_id}/push-subscription`, body);
    const subscribed = async () => {
      const { userId, device } = await userWithDevice(ts, app.apiKey);
      const sub = new FakeSubscriber(push);
      const r = await subscribe(device, sub.json());
      expect(r.status).toBe(200);
      return { userId, device, sub };
    };
    const subscriptionRows = (deviceId: string) => ts.system.db.selectFrom('push_subscriptions').selectAll().where('device_id', '=', deviceId).execute();

    it('when the PWA asks for the VAPID key then it gets the 65-byte public key without signing', async () => {
      const r = await fetch(`${ts.url}/v1/push/vapid-public-key`);
      expect(r.status).toBe(200);
      const { key } = (await r.json()) as { key: string };
      expect(key).toBe(vapidKey());
      expect(Buffer.from(key, 'base64url')).toHaveLength(65);
      expect(Buffer.from(key, 'base64url')[0]).toBe(4);
    });

    it('when a subscribed device gets a new request then the push service receives one VAPID-signed aes128gcm POST holding only uuid, message and app name', async () => {
      const { userId, sub } = await subscribed();
      const before = Date.now();
      const created = await createApproval(ts.url, app.apiKey, userId, {
        message: 'Login to Push Test',
        'details[Location]': 'Secret Town',
        'hidden_details[ip]': '203.0.113.9',
        number_matching: true,
        seconds_to_expire: 120,
      });
      expect(created.status).toBe(200);
      const uuid = created.body['approval_request'].uuid as string;
      const number = created.body['approval_request'].number as string;
      await until(() => push.to(sub.path).length >= 1);
      await sleep(300);
      const got = push.to(sub.path);
      expect(got).toHaveLength(1);
      const req = got[0]!;

      const claims = verifyVapid(req.headers['authorization'], vapidKey());
      expect(claims.aud).toBe(push.origin);
      expect(claims.exp * 1000).toBeGreaterThan(before);
      expect(claims.exp * 1000).toBeLessThanOrEqual(Date.now() + 24 * 3600 * 1000);
      expect(claims.sub).toMatch(/^(mailto:|https:)/);
      expect(req.headers['content-encoding']).toBe('aes128gcm');
      const ttl = Number(req.headers['ttl']);
      expect(ttl).toBeGreaterThan(100);
      expect(ttl).toBeLessThanOrEqual(120);
      expect(req.headers['urgency']).toBe('high');

      const text = sub.decrypt(req.body);
      expect(JSON.parse(text)).toEqual({ type: 'approval_request', uuid, message: 'Login to Push Test', app_name: APP_NAME });
      // Exactly these four fields (toEqual above): the matching number and details stay off the lock screen.
      expect(number).toMatch(/^\d{2}$/);
      expect(JSON.parse(text)).not.toHaveProperty('number');
      expect(text).not.toContain('Secret Town');
      expect(text).not.toContain('203.0.113.9');
      // The body on the wire is ciphertext.
      expect(req.body.toString('latin1')).not.toContain('Login to Push Test');
    });

    it('when a user has two subscribed devices and one without then each subscribed device gets exactly one push per request', async () => {
      const { userId, device } = await userWithDevice(ts, app.apiKey);
      const a = new FakeSubscriber(push);
      expect((await subscribe(device, a.json())).status).toBe(200);
      // A second and a third device of the same user: one subscribed, one not.
      const link = await fetch(`${ts.url}/v1/users/${userId}/activations`, { method: 'POST', headers: { 'x-authy-api-key': app.apiKey } }).then((r) => r.json() as Promise<{ activation: { link: string } }>);
      const { activateDevice } = await import('../../src/authenticator/client.js');
      const second = new DeviceClient(await activateDevice(link.activation.link, { name: 'second' }));
      const b = new FakeSubscriber(push);
      expect((await subscribe(second, b.json())).status).toBe(200);
      const link3 = await fetch(`${ts.url}/v1/users/${userId}/activations`, { method: 'POST', headers: { 'x-authy-api-key': app.apiKey } }).then((r) => r.json() as Promise<{ activation: { link: string } }>);
      await activateDevice(link3.activation.link, { name: 'third, no push' });

      const uuids: string[] = [];
      for (let i = 0; i < 3; i++) uuids.push((await createApproval(ts.url, app.apiKey, userId, { message: `Request ${i}` })).body['approval_request'].uuid as string);
      await until(() => push.to(a.path).length >= 3 && push.to(b.path).length >= 3);
      await sleep(300);
      for (const s of [a, b]) {
        const got = push.to(s.path).map((r) => (JSON.parse(s.decrypt(r.body)) as { uuid: string }).uuid);
        expect(got.sort()).toEqual([...uuids].sort());
      }
    });

    it('when a device replaces its subscription then only the newest one is pushed to', async () => {
      const { userId, device } = await subscribed();
      const newer = new FakeSubscriber(push);
      expect((await subscribe(device, newer.json())).status).toBe(200);
      expect(await subscriptionRows(device.state.device_id)).toHaveLength(1);
      await createApproval(ts.url, app.apiKey, userId);
      await until(() => push.to(newer.path).length === 1);
    });

    it('when the push service answers 410 Gone then the subscription is removed and not used again', async () => {
      const { userId, device, sub } = await subscribed();
      push.statusFor.set(sub.path, 410);
      await createApproval(ts.url, app.apiKey, userId);
      await until(() => push.to(sub.path).length === 1);
      const end = Date.now() + 5000;
      while ((await subscriptionRows(device.state.device_id)).length > 0 && Date.now() < end) await sleep(20);
      expect(await subscriptionRows(device.state.device_id)).toHaveLength(0);
      await createApproval(ts.url, app.apiKey, userId);
      await sleep(400);
      expect(push.to(sub.path)).toHaveLength(1);
      expect(ts.logs.some((l) => l.includes('"status":410'))).toBe(true);
    });

    it('when the push service answers 404 then the subscription is removed too', async () => {
      const { userId, device, sub } = await subscribed();
      push.statusFor.set(sub.path, 404);
      await createApproval(ts.url, app.apiKey, userId);
      const end = Date.now() + 5000;
      while ((await subscriptionRows(device.state.device_id)).length > 0 && Date.now() < end) await sleep(20);
      expect(await subscriptionRows(device.state.device_id)).toHaveLength(0);
    });

    it('when the push service fails with 500 then the subscription stays and only the status is logged', async () => {
      const { userId, device, sub } = await subscribed();
      push.statusFor.set(sub.path, 500);
      await createApproval(ts.url, app.apiKey, userId);
      await until(() => ts.logs.some((l) => l.includes('web push delivery failed') && l.includes('"status":500')));
      expect(await subscriptionRows(device.state.device_id)).toHaveLength(1);
      const text = ts.logs.join('\n');
      expect(text).not.toContain(sub.path);
      expect(text).not.toContain(sub.auth.toString('base64url'));
    });

    it('when a device is revoked then its subscription is deleted and it gets no push, while the other device still does', async () => {
      const { userId, device, sub } = await subscribed();
      const link = await fetch(`${ts.url}/v1/users/${userId}/activations`, { method: 'POST', headers: { 'x-authy-api-key': app.apiKey } }).then((r) => r.json() as Promise<{ activation: { link: string } }>);
      const { activateDevice } = await import('../../src/authenticator/client.js');
      const other = new DeviceClient(await activateDevice(link.activation.link, { name: 'other' }));
      const otherSub = new FakeSubscriber(push);
      expect((await subscribe(other, otherSub.json())).status).toBe(200);

      const del = await fetch(`${ts.url}/v1/users/${userId}/devices/${device.state.device_id}`, { method: 'DELETE', headers: { 'x-authy-api-key': app.apiKey } });
      expect(del.status).toBe(200);
      expect(await subscriptionRows(device.state.device_id)).toHaveLength(0);
      // Revoked: it cannot subscribe again either.
      expect((await subscribe(device, sub.json())).status).toBe(401);

      await createApproval(ts.url, app.apiKey, userId);
      await until(() => push.to(otherSub.path).length === 1);
      await sleep(300);
      expect(push.to(sub.path)).toHaveLength(0);
    });

    it('when the push service hangs or is down then the create call still answers at once', async () => {
      const hanging = await subscribed();
      push.statusFor.set(hanging.sub.path, 'hang');
      const t0 = Date.now();
      const r = await createApproval(ts.url, app.apiKey, hanging.userId);
      expect(r.status).toBe(200);
      expect(Date.now() - t0).toBeLessThan(2000);
      await until(() => push.to(hanging.sub.path).length === 1);

      // Nothing listens on this port: connection refused.
      const { userId, device } = await userWithDevice(ts, app.apiKey);
      const down = new FakeSubscriber(push);
      const body = { ...down.json(), endpoint: 'https://127.0.0.1:9/push/nobody' };
      expect((await subscribe(device, body)).status).toBe(200);
      const r2 = await createApproval(ts.url, app.apiKey, userId);
      expect(r2.status).toBe(200);
      await until(() => ts.logs.some((l) => l.includes('web push delivery failed') && l.includes('ECONNREFUSED')));
    });

    it('when a subscription is stored then neither its endpoint nor its auth secret is in the database in clear', async () => {
      const { device, sub } = await subscribed();
      const rows = await subscriptionRows(device.state.device_id);
      const dump = JSON.stringify(rows);
      expect(dump).not.toContain(sub.path);
      expect(dump).not.toContain(sub.auth.toString('base64url'));
      expect(rows[0]!.sealed).toMatch(/^v1\./);
    });

    describe('the subscription endpoints', () => {
      it('when PUT or DELETE is unsigned, forged, replayed or for another device then 401', async () => {
        const { device } = await userWithDevice(ts, app.apiKey);
        const { device: stranger } = await userWithDevice(ts, app.apiKey);
        const sub = new FakeSubscriber(push).json();
        const path = `/v1/devices/${device.state.device_id}/push-subscription`;
        const text = JSON.stringify(sub);

        const unsigned = await fetch(`${ts.url}${path}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: text });
        expect(unsigned.status).toBe(401);
        expect(await unsigned.json()).toEqual({ code: 'DEVICE_AUTH_FAILED', message: 'Device authentication failed' });

        // Signed by the stranger's key but claiming to be the device.
        const forgedHeaders = { ...stranger.signedHeaders('PUT', path, text), 'x-twofold-device': device.state.device_id, 'content-type': 'application/json' };
        expect((await fetch(`${ts.url}${path}`, { method: 'PUT', headers: forgedHeaders, body: text })).status).toBe(401);

        // The stranger's valid signature on the device's path.
        expect((await stranger.request('PUT', path, sub)).status).toBe(401);

        // A body other than the one signed.
        const headers = { ...device.signedHeaders('PUT', path, text), 'content-type': 'application/json' };
        expect((await fetch(`${ts.url}${path}`, { method: 'PUT', headers, body: JSON.stringify({ ...sub, endpoint: 'https://evil.example/x' }) })).status).toBe(401);

        // Replay of a good request.
        const good = { ...device.signedHeaders('PUT', path, text), 'content-type': 'application/json' };
        expect((await fetch(`${ts.url}${path}`, { method: 'PUT', headers: good, body: text })).status).toBe(200);
        expect((await fetch(`${ts.url}${path}`, { method: 'PUT', headers: good, body: text })).status).toBe(401);

        expect((await fetch(`${ts.url}${path}`, { method: 'DELETE' })).status).toBe(401);
        expect((await stranger.request('DELETE', path)).status).toBe(401);
        expect(await subscriptionRows(device.state.device_id)).toHaveLength(1);
      });

      it('when a device deletes its subscription then it is gone, and a second delete says so', async () => {
        const { device } = await subscribed();
        const path = `/v1/devices/${device.state.device_id}/push-subscription`;
        const first = await device.request('DELETE', path);
        expect(first.status).toBe(200);
        expect(await first.json()).toEqual({ push_subscription: { device_id: device.state.device_id, deleted: true } });
        expect(await subscriptionRows(device.state.device_id)).toHaveLength(0);
        const again = await device.request('DELETE', path);
        expect(((await again.json()) as { push_subscription: { deleted: boolean } }).push_subscription.deleted).toBe(false);
      });

      const good = () => new FakeSubscriber(push).json();
      const offCurve = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)]).toString('base64url');
      const cases: [string, () => unknown][] = [
        ['an http endpoint', () => ({ ...good(), endpoint: 'http://127.0.0.1/push/x' })],
        ['a javascript: endpoint', () => ({ ...good(), endpoint: 'javascript:alert(1)' })],
        ['an endpoint that is not a URL', () => ({ ...good(), endpoint: 'not a url' })],
        ['an endpoint with credentials', () => ({ ...good(), endpoint: 'https://u:p@push.example/x' })],
        ['an endpoint over 2 KB', () => ({ ...good(), endpoint: `https://push.example/${'a'.repeat(2100)}` })],
        ['a unicode endpoint over 2 KB in bytes', () => ({ ...good(), endpoint: `https://push.example/${'é'.repeat(1100)}` })],
        ['an endpoint array', () => ({ ...good(), endpoint: ['https://push.example/x'] })],
        ['a numeric endpoint', () => ({ ...good(), endpoint: 42 })],
        ['no keys', () => ({ endpoint: good().endpoint })],
        ['keys as a string', () => ({ endpoint: good().endpoint, keys: 'abc' })],
        ['p256dh off the curve', () => ({ ...good(), keys: { ...good().keys, p256dh: offCurve } })],
        ['p256dh too short', () => ({ ...good(), keys: { ...good().keys, p256dh: 'BAAA' } })],
        ['p256dh not base64url', () => ({ ...good(), keys: { ...good().keys, p256dh: 'B+/!'.repeat(22) } })],
        ['auth of 8 bytes', () => ({ ...good(), keys: { ...good().keys, auth: Buffer.alloc(8, 1).toString('base64url') } })],
        ['auth as a number', () => ({ ...good(), keys: { ...good().keys, auth: 16 } })],
        ['an array body', () => [good()]],
        ['a string body', () => 'subscription'],
        ['null', () => null],
      ];
      it.each(cases)('when the subscription has %s then 400 INVALID_REQUEST and nothing is stored', async (_name, make) => {
        const { device } = await userWithDevice(ts, app.apiKey);
        const r = await subscribe(device, make());
        expect(r.status).toBe(400);
        expect(((await r.json()) as { code: string }).code).toBe('INVALID_REQUEST');
        expect(await subscriptionRows(device.state.device_id)).toHaveLength(0);
      });

      it('when the body is not JSON, empty or too large then 4xx, never 500', async () => {
        const { device } = await userWithDevice(ts, app.apiKey);
        const path = `/v1/devices/${device.state.device_id}/push-subscription`;
        const send = (body: string) => fetch(`${ts.url}${path}`, { method: 'PUT', headers: { ...device.signedHeaders('PUT', path, body), 'content-type': 'application/json' }, body });
        const malformed = await send('{"endpoint":');
        expect(malformed.status).toBe(400);
        expect(((await malformed.json()) as { code: string }).code).toBe('MALFORMED_BODY');
        expect((await device.request('PUT', path)).status).toBe(400);
        expect((await send(JSON.stringify({ ...good(), pad: 'x'.repeat(20_000) }))).status).toBe(413);
      });
    });
  });
});
