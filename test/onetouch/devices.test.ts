import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateDevice, DeviceClient, parseActivationLink } from '../../src/authenticator/client.js';
import { Devices, NONCE_RETENTION_MS } from '../../src/verify/onetouch/devices.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { activationLink, createApp, createApproval, registerUser, unusedTotp, userWithDevice } from './helpers.js';
import { directoryOf, oneTouchPlatform } from '../helpers/contexts.js';

const p256 = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });

forEachDatabase((kind) => {
  describe(`Authenticator devices (${kind})`, () => {
    let ts: TestSystem;
    let app: { id: number; apiKey: string };
    beforeAll(async () => {
      ts = await startTestSystem({ db: kind });
      app = await createApp(ts, null, `Devices ${kind}`);
    });
    afterAll(async () => {
      await ts.stop();
    });

    const activate = (token: string, publicKey: unknown, name: unknown = 'phone') =>
      fetch(`${ts.url}/v1/devices/activate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token, name, public_key: publicKey }),
      });
    const publicJwk = () => {
      const j = p256().publicKey.export({ format: 'jwk' });
      return { kty: j.kty, crv: j.crv, x: j.x, y: j.y };
    };

    describe('activation', () => {
      it('when an activation link is made then it points at the authenticator with a QR code and a 10-minute expiry', async () => {
        const userId = await registerUser(ts.url, app.apiKey);
        const before = Date.now();
        const r = await fetch(`${ts.url}/v1/users/${userId}/activations`, { method: 'POST', headers: { 'x-authy-api-key': app.apiKey } });
        expect(r.status).toBe(201);
        const { activation } = (await r.json()) as { activation: { token: string; link: string; qr_code: string; expires_at: number } };
        expect(activation.link).toBe(`${ts.url}/authenticator/#activate=${activation.token}`);
        expect(activation.qr_code).toMatch(/^data:image\/png;base64,/);
        expect(activation.expires_at - before).toBeGreaterThan(9 * 60 * 1000);
        expect(activation.expires_at - before).toBeLessThanOrEqual(10 * 60 * 1000 + 1000);
        expect(parseActivationLink(activation.link)).toEqual({ serviceUrl: ts.url, token: activation.token });
        // Stored hashed only.
        const rows = await ts.system.db.selectFrom('device_activations').select('token_hash').where('user_id', '=', userId).execute();
        expect(rows.map((x) => x.token_hash)).not.toContain(activation.token);
      });

      it('when two devices redeem one link at the same time then exactly one device is created', async () => {
        const userId = await registerUser(ts.url, app.apiKey);
        const { token } = parseActivationLink(await activationLink(ts.url, app.apiKey, userId));
        const results = await Promise.all(Array.from({ length: 10 }, () => activate(token, publicJwk())));
        expect(results.map((r) => r.status).sort()).toEqual([201, ...Array(9).fill(410)]);
        const devices = await ts.system.db.selectFrom('devices').select('id').where('user_id', '=', userId).execute();
        expect(devices).toHaveLength(1);
      });

      it('when the link is used, expired or unknown then the same 410 answer', async () => {
        const userId = await registerUser(ts.url, app.apiKey);
        const link = await activationLink(ts.url, app.apiKey, userId);
        await activateDevice(link, { name: 'first' });
        const used = await activate(parseActivationLink(link).token, publicJwk());
        const unknown = await activate('x'.repeat(43), publicJwk());
        const expiredLink = await activationLink(ts.url, app.apiKey, userId);
        await ts.system.db.updateTable('device_activations').set({ expires_at: Date.now() - 1 }).where('consumed_at', 'is', null).where('user_id', '=', userId).execute();
        const expired = await activate(parseActivationLink(expiredLink).token, publicJwk());
        const bodies = await Promise.all([used, unknown, expired].map(async (r) => [r.status, await r.json()]));
        for (const b of bodies) expect(b).toEqual([410, { code: 'ACTIVATION_INVALID', message: 'Activation link is invalid or expired' }]);
      });

      it('when activation succeeds then it returns the device, a masked email and the TOTP parameters', async () => {
        const userId = await registerUser(ts.url, app.apiKey);
        const { token } = parseActivationLink(await activationLink(ts.url, app.apiKey, userId));
        const r = await activate(token, publicJwk(), 'My phone');
        expect(r.status).toBe(201);
        const b = (await r.json()) as Record<string, any>;
        expect(b['device']).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), name: 'My phone' });
        expect(b['user']).toEqual({ authy_id: userId, email_hint: expect.stringMatching(/^.\*\*\*@example\.com$/) });
        expect(b['totp']).toMatchObject({ secret: expect.stringMatching(/^[A-Z2-7]{32}$/), digits: 6, period: 30, algorithm: 'SHA1' });
        expect(b['service_url']).toBe(ts.url);
      });

      it.each([
        ['a private key', () => p256().privateKey.export({ format: 'jwk' })],
        ['a P-384 key', () => generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' })],
        ['an RSA key', () => generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' })],
        ['a point not on the curve', () => ({ kty: 'EC', crv: 'P-256', x: 'A'.repeat(43), y: 'B'.repeat(43) })],
        ['a string', () => 'not a key'],
        ['nothing', () => undefined],
      ])('when the public key is %s then 400 and the link stays usable', async (_n, key) => {
        const userId = await registerUser(ts.url, app.apiKey);
        const { token } = parseActivationLink(await activationLink(ts.url, app.apiKey, userId));
        const r = await activate(token, key());
        expect(r.status).toBe(400);
        expect(((await r.json()) as { code: string }).code).toBe('INVALID_PUBLIC_KEY');
        expect((await activate(token, publicJwk())).status).toBe(201);
      });

      it.each<[unknown, string]>([['', 'empty'], ['x'.repeat(65), 'too long'], [42, 'a number'], [['a'], 'an array'], ['a\u0007b', 'a control character']])(
        'when the device name is %j (%s) then 400',
        async (name) => {
          const userId = await registerUser(ts.url, app.apiKey);
          const { token } = parseActivationLink(await activationLink(ts.url, app.apiKey, userId));
          expect((await activate(token, publicJwk(), name)).status).toBe(400);
        },
      );

      it('when the activation body is over 16 kB then 413', async () => {
        const r = await fetch(`${ts.url}/v1/devices/activate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: 'x'.repeat(20_000) }) });
        expect(r.status).toBe(413);
        expect(((await r.json()) as { code: string }).code).toBe('PAYLOAD_TOO_LARGE');
      });

      it('when the activation body is not JSON then 400', async () => {
        const r = await fetch(`${ts.url}/v1/devices/activate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
        expect(r.status).toBe(400);
      });

      it("when an app asks for another app's user then 404, and without a key 401", async () => {
        const other = await createApp(ts, null, 'Other');
        const theirs = await registerUser(ts.url, other.apiKey);
        const r = await fetch(`${ts.url}/v1/users/${theirs}/activations`, { method: 'POST', headers: { 'x-authy-api-key': app.apiKey } });
        expect(r.status).toBe(404);
        const n = await fetch(`${ts.url}/v1/users/${theirs}/activations`, { method: 'POST' });
        expect(n.status).toBe(401);
        expect(await n.json()).toEqual({ code: 'INVALID_API_KEY', message: 'Invalid API key' });
      });

      it("when an app asks for another app's user's lockouts then 404; for its own user the list (empty here)", async () => {
        const other = await createApp(ts, null, 'Other lockouts');
        const theirs = await registerUser(ts.url, other.apiKey);
        expect((await fetch(`${ts.url}/v1/users/${theirs}/lockouts`, { headers: { 'x-authy-api-key': app.apiKey } })).status).toBe(404);
        const own = await fetch(`${ts.url}/v1/users/${theirs}/lockouts`, { headers: { 'x-authy-api-key': other.apiKey } });
        expect(own.status).toBe(200);
        expect(await own.json()).toEqual({ lockouts: [] });
      });
    });

    describe('signed requests', () => {
      it('when everything is right then GET /v1/devices/{id} answers with the device and its TOTP', async () => {
        const { device } = await userWithDevice(ts, app.apiKey);
        const d = await device.describe();
        expect(d.device.id).toBe(device.state.device_id);
        expect(d.totp.secret).toBe(device.state.totp.secret);
      });

      it('when a device uses another device id in the path then 401', async () => {
        const a = await userWithDevice(ts, app.apiKey);
        const b = await userWithDevice(ts, app.apiKey);
        const path = `/v1/devices/${b.device.state.device_id}/approval_requests`;
        const r = await fetch(`${ts.url}${path}`, { headers: a.device.signedHeaders('GET', path, undefined) });
        expect(r.status).toBe(401);
      });

      it('when a header is missing or malformed, or the path or body differ from what was signed, then one generic 401', async () => {
        const { device } = await userWithDevice(ts, app.apiKey);
        const path = `/v1/devices/${device.state.device_id}`;
        const good = device.signedHeaders('GET', path, undefined);
        const variants: Record<string, string>[] = [
          {},
          { ...good, 'x-twofold-signature': 'A'.repeat(86) },
          { ...good, 'x-twofold-nonce': 'short' },
          { ...good, 'x-twofold-timestamp': 'yesterday' },
          { ...good, 'x-twofold-device': 'not-a-device' },
          { ...good, 'x-twofold-device': '00000000-0000-4000-8000-000000000000' },
          device.signedHeaders('GET', `${path}?x=1`, undefined),
          device.signedHeaders('GET', path, '{"extra":true}'),
        ];
        for (const headers of variants) {
          const r = await fetch(`${ts.url}${path}`, { headers });
          expect(r.status).toBe(401);
          expect(await r.json()).toEqual({ code: 'DEVICE_AUTH_FAILED', message: 'Device authentication failed' });
        }
      });

      it('when the same nonce is sent twenty times at once then exactly one request passes', async () => {
        const { device } = await userWithDevice(ts, app.apiKey);
        const path = `/v1/devices/${device.state.device_id}/approval_requests`;
        const headers = device.signedHeaders('GET', path, undefined, { nonce: 'burst-nonce-abcdefghijkl' });
        const results = await Promise.all(Array.from({ length: 20 }, () => fetch(`${ts.url}${path}`, { headers }).then((r) => r.status)));
        expect(results.filter((s) => s === 200)).toHaveLength(1);
      });
    });

    describe('housekeeping', () => {
      it('when nonces and activation links are old enough then pruning removes them and keeps fresh ones', async () => {
        const p = oneTouchPlatform(ts.system.platform);
        const { userId, device } = await userWithDevice(ts, app.apiKey);
        const now = Date.now();
        const id = device.state.device_id;
        await p.db.db
          .insertInto('device_nonces')
          .values([
            { device_id: id, nonce: 'old-nonce-0123456789ab', seen_at: now - NONCE_RETENTION_MS - 1000 },
            { device_id: id, nonce: 'new-nonce-0123456789ab', seen_at: now },
          ])
          .execute();
        await p.db.db
          .insertInto('device_activations')
          .values({ token_hash: `old-${kind}-${now}`, user_id: userId, name: null, created_at: now - 3 * 86_400_000, expires_at: now - 2 * 86_400_000, consumed_at: null, device_id: null })
          .execute();
        const devices = new Devices(p, unusedTotp, directoryOf(ts.system.platform));
        expect(await devices.prune()).toBeGreaterThanOrEqual(2);
        const nonces = await p.db.db.selectFrom('device_nonces').select('nonce').where('device_id', '=', id).execute();
        expect(nonces.map((n) => n.nonce)).toContain('new-nonce-0123456789ab');
        expect(nonces.map((n) => n.nonce)).not.toContain('old-nonce-0123456789ab');
        expect(await p.db.db.selectFrom('device_activations').select('token_hash').where('token_hash', '=', `old-${kind}-${now}`).execute()).toHaveLength(0);
      });
    });

    describe('directory and revocation', () => {
      it('when devices are listed and one is revoked then it shows revoked_at and OneTouch falls back to 60050', async () => {
        const { userId, device } = await userWithDevice(ts, app.apiKey);
        const list = await fetch(`${ts.url}/v1/users/${userId}/devices`, { headers: { 'x-authy-api-key': app.apiKey } });
        const { devices } = (await list.json()) as { devices: { id: string; revoked_at: number | null; last_seen_at: number | null }[] };
        expect(devices).toHaveLength(1);
        expect(devices[0]).toMatchObject({ id: device.state.device_id, name: 'test device', revoked_at: null });
        const del = await fetch(`${ts.url}/v1/users/${userId}/devices/${device.state.device_id}`, { method: 'DELETE', headers: { 'x-authy-api-key': app.apiKey } });
        const body = (await del.json()) as { device: { id: string; revoked_at: number } };
        expect(body.device.id).toBe(device.state.device_id);
        expect(body.device.revoked_at).toBeGreaterThan(0);
        await expect(device.pending()).rejects.toMatchObject({ status: 401 });
        expect((await createApproval(ts.url, app.apiKey, userId)).body['error_code']).toBe('60050');
        const events = await ts.system.platform.audit.forUser(`authy:${userId}`);
        expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['device_activated', 'device_revoked']));
        // Revoking again is harmless; an unknown device is 404.
        expect((await fetch(`${ts.url}/v1/users/${userId}/devices/${device.state.device_id}`, { method: 'DELETE', headers: { 'x-authy-api-key': app.apiKey } })).status).toBe(200);
        expect((await fetch(`${ts.url}/v1/users/${userId}/devices/00000000-0000-4000-8000-000000000000`, { method: 'DELETE', headers: { 'x-authy-api-key': app.apiKey } })).status).toBe(404);
      });

      it("when an app revokes another app's user's device then 404 and the device keeps working", async () => {
        const { userId, device } = await userWithDevice(ts, app.apiKey);
        const other = await createApp(ts, null, 'Intruder');
        const r = await fetch(`${ts.url}/v1/users/${userId}/devices/${device.state.device_id}`, { method: 'DELETE', headers: { 'x-authy-api-key': other.apiKey } });
        expect(r.status).toBe(404);
        expect(await device.pending()).toEqual([]);
      });

      it('when a new client is built from the saved state then it still signs for the same device', async () => {
        const { device } = await userWithDevice(ts, app.apiKey);
        const copy = new DeviceClient(JSON.parse(JSON.stringify(device.state)) as typeof device.state);
        expect((await copy.describe()).device.id).toBe(device.state.device_id);
      });
    });
  });
});
