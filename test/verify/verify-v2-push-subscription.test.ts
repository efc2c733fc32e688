// Verify v2 push factors' Web Push (a Twofold extension, docs/verify-v2.md "Notifications"): the
// factor's device registers one subscription with a request its key signs; a new challenge is
// pushed to it once, encrypted, carrying no fields and no hidden details. Threats: another
// device setting or removing a factor's subscription, an endpoint pointing into the server's
// own network (production), a push leaking what only the app or the card may show.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../onetouch/helpers.js';
import { FakePushService, FakeSubscriber, verifyVapid } from '../onetouch/fake-push-service.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { builtinVerifyClient, type VerifyClient } from '../helpers/twilio-verify.js';
import type { PushFactorClient } from '../../src/authenticator/verify-push.js';
import { enrolled } from './push-helpers.js';

async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(20);
  }
}

const put = (d: PushFactorClient, subscription: unknown, factorSid = d.state.factor_sid) =>
  d.request('PUT', `/Factors/${factorSid}/PushSubscription`, { Subscription: typeof subscription === 'string' ? subscription : JSON.stringify(subscription) });
const del = (d: PushFactorClient, factorSid = d.state.factor_sid) => d.request('DELETE', `/Factors/${factorSid}/PushSubscription`);

forEachDatabase((kind) => {
  describe(`Verify v2 push factors' Web Push on ${kind}`, () => {
    let t: TestSystem;
    let client: VerifyClient;
    let svc: string;
    const push = new FakePushService();
    beforeAll(async () => {
      await push.start();
      push.trustInThisProcess();
      t = await startTestSystem({ db: kind });
      ({ client } = await builtinVerifyClient(t));
      svc = (await client.verify.v2.services.create({ friendlyName: 'Acme Web Push' })).sid;
    });
    afterAll(async () => {
      await push.stop();
      await t?.stop();
    });
    const rows = (factorSid: string) => t.system.db.selectFrom('verify_v2_push_subscriptions').selectAll().where('factor_sid', '=', factorSid).execute();

    it('when the factor sets, replaces and deletes its subscription by signed requests then one sealed row follows each', async () => {
      const { device } = await enrolled(client, t.url, svc);
      const a = new FakeSubscriber(push);
      expect((await put(device, a.json())).status).toBe(200);
      const first = await rows(device.state.factor_sid);
      expect(first).toHaveLength(1);
      // Sealed: neither the endpoint nor the auth secret is readable at rest.
      expect(first[0]!.sealed).not.toContain(a.path);
      expect(first[0]!.sealed).not.toContain(a.json().keys.auth);
      const b = new FakeSubscriber(push);
      expect((await put(device, b.json())).status).toBe(200);
      const second = await rows(device.state.factor_sid);
      expect(second).toHaveLength(1);
      expect(second[0]!.sealed).not.toBe(first[0]!.sealed);
      expect((await del(device)).status).toBe(204);
      expect(await rows(device.state.factor_sid)).toEqual([]);
    });

    it("when another factor's key signs for this factor's subscription then it is refused and nothing changes", async () => {
      const { device } = await enrolled(client, t.url, svc);
      const other = await enrolled(client, t.url, svc);
      expect((await put(device, new FakeSubscriber(push).json())).status).toBe(200);
      const before = await rows(device.state.factor_sid);
      // Signed by the other factor for this factor's path: another entity's factor, 401.
      const r = await put(other.device, new FakeSubscriber(push).json(), device.state.factor_sid);
      expect([401, 404]).toContain(r.status);
      expect((await r.json()) as { code: number }).toHaveProperty('code');
      expect((await del(other.device, device.state.factor_sid)).status).toBeGreaterThanOrEqual(400);
      expect(await rows(device.state.factor_sid)).toEqual(before);
      // No signature at all: an app request cannot reach it either.
      const anon = await fetch(`${t.url}/v2/Services/${svc}/Entities/${device.state.identity}/Factors/${device.state.factor_sid}/PushSubscription`, { method: 'DELETE' });
      expect(anon.status).toBe(401);
      expect(await rows(device.state.factor_sid)).toEqual(before);
    });

    it('when the subscription is malformed then 400 with 60200 and nothing is stored', async () => {
      const { device } = await enrolled(client, t.url, svc);
      const good = new FakeSubscriber(push).json();
      for (const bad of [
        'not json',
        { ...good, endpoint: 'http://push.example.com/x' },
        { ...good, endpoint: 'https://user:pw@push.example.com/x' },
        { ...good, endpoint: `https://push.example.com/${'a'.repeat(2100)}` },
        { ...good, keys: { ...good.keys, p256dh: Buffer.alloc(65, 4).toString('base64url') } },
        { ...good, keys: { ...good.keys, auth: 'AAAA' } },
        { endpoint: good.endpoint },
        'x'.repeat(5000),
      ]) {
        const r = await put(device, bad);
        expect(r.status, JSON.stringify(bad).slice(0, 80)).toBe(400);
        expect(((await r.json()) as { code: number }).code).toBe(60200);
      }
      expect(await rows(device.state.factor_sid)).toEqual([]);
    });

    it('when the app creates a challenge then the subscription gets exactly one VAPID-signed push whose payload has no fields and no hidden details', async () => {
      const { identity, device } = await enrolled(client, t.url, svc);
      const sub = new FakeSubscriber(push);
      expect((await put(device, sub.json())).status).toBe(200);
      const ch = await client.verify.v2.services(svc).entities(identity).challenges.create({
        factorSid: device.state.factor_sid,
        'details.message': 'Log in to Acme',
        'details.fields': [{ label: 'IP', value: '203.0.113.77' }],
        hiddenDetails: { session: 'hidden-s-42' },
      });
      expect(ch.status).toBe('pending');
      await until(() => push.to(sub.path).length >= 1);
      await sleep(300);
      const got = push.to(sub.path);
      expect(got).toHaveLength(1);
      verifyVapid(got[0]!.headers['authorization'], t.system.platform.config.vapid.publicKey);
      expect(got[0]!.headers['content-encoding']).toBe('aes128gcm');
      const text = sub.decrypt(got[0]!.body);
      expect(JSON.parse(text)).toEqual({ type: 'verify_challenge', service_sid: svc, factor_sid: device.state.factor_sid, challenge_sid: ch.sid, message: 'Log in to Acme' });
      expect(text).not.toContain('hidden-s-42');
      expect(text).not.toContain('203.0.113.77');
      expect(Buffer.byteLength(text)).toBeLessThan(512);
    });

    it('when the push service answers 410 then the subscription is dropped and the challenge stands', async () => {
      const { identity, device } = await enrolled(client, t.url, svc);
      const sub = new FakeSubscriber(push);
      push.statusFor.set(sub.path, 410);
      expect((await put(device, sub.json())).status).toBe(200);
      const ch = await client.verify.v2.services(svc).entities(identity).challenges.create({ factorSid: device.state.factor_sid, 'details.message': 'Gone' });
      expect(ch.status).toBe('pending');
      await until(() => push.to(sub.path).length >= 1);
      const end = Date.now() + 3000;
      while ((await rows(device.state.factor_sid)).length > 0 && Date.now() < end) await sleep(50);
      expect(await rows(device.state.factor_sid)).toEqual([]);
    });
  });
});

describe("Verify v2 push factors' Web Push in production (SSRF)", () => {
  let t: TestSystem;
  let client: VerifyClient;
  beforeAll(async () => {
    t = await startTestSystem({ env: { NODE_ENV: 'production' } });
    ({ client } = await builtinVerifyClient(t));
  });
  afterAll(() => t?.stop());

  it('when the endpoint names loopback, a private address, a bare name or another port then 400 60200 and nothing is stored', async () => {
    const svc = (await client.verify.v2.services.create({ friendlyName: 'Acme Prod Push' })).sid;
    const { device } = await enrolled(client, t.url, svc);
    const keys = new FakeSubscriber(new FakePushService()).json().keys;
    for (const endpoint of ['https://127.0.0.1/push', 'https://localhost/push', 'https://[::1]/push', 'https://10.0.0.1/push', 'https://169.254.169.254/latest', 'https://intranet/push', 'https://push.example.com:8443/x']) {
      const r = await put(device, { endpoint, keys });
      expect(r.status, endpoint).toBe(400);
      expect(((await r.json()) as { code: number }).code).toBe(60200);
    }
    expect(await t.system.db.selectFrom('verify_v2_push_subscriptions').selectAll().execute()).toEqual([]);
    expect((await put(device, { endpoint: 'https://push.example.com/x', keys })).status).toBe(200);
  });
});
