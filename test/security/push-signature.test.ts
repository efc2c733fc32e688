// Threat: a forged, replayed or tampered approval answer (another key, another user's device, a
// "deny" signature presented as "approve", a wrong or missing number, a stale or expired request)
// changes an approval's state; every such answer must be refused and leave the request as it was.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceClient } from '../../src/authenticator/client.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { approvalStatus, collectEvents, createApp, createApproval, postAnswer, sleep, userWithDevice } from '../onetouch/helpers.js';
import { passwordStep, pendingFor, userWithDevice as appUserWithDevice } from './helpers.js';

forEachDatabase((kind) => {
  describe(`signed approval answers on ${kind}`, () => {
    let ts: TestSystem;
    let app: { id: number; apiKey: string };
    beforeAll(async () => {
      ts = await startTestSystem({ db: kind });
      app = await createApp(ts, null, `Push signature ${kind}`);
    });
    afterAll(() => ts.stop());

    const statusOf = async (uuid: string) => (await approvalStatus(ts.url, app.apiKey, uuid)).body['approval_request']?.status as string;

    const setup = async (params: Record<string, string | number | boolean> = {}) => {
      const { userId, device } = await userWithDevice(ts, app.apiKey);
      const c = await createApproval(ts.url, app.apiKey, userId, { number_matching: true, ...params });
      const uuid = c.body['approval_request'].uuid as string;
      const shown = (await device.pending()).find((r) => r.uuid === uuid)!;
      return { userId, device, uuid, number: c.body['number'] as string, shown };
    };
    const otherNumber = (n: string) => String((Number(n) + 37) % 100).padStart(2, '0');

    it('when the number is wrong then 403 and still pending', async () => {
      const s = await setup();
      const r = await postAnswer(ts.url, s.device, s.uuid, s.device.answerBody(s.uuid, 'approve', otherNumber(s.number), s.shown));
      expect(r.status).toBe(403);
      expect(r.body).toEqual({ code: 'APPROVAL_REFUSED', message: 'Approval refused' });
      expect(await statusOf(s.uuid)).toBe('pending');
    });

    it('when the number is missing then 403 and still pending', async () => {
      const s = await setup();
      const r = await postAnswer(ts.url, s.device, s.uuid, s.device.answerBody(s.uuid, 'approve', null, s.shown));
      expect(r.status).toBe(403);
      expect(await statusOf(s.uuid)).toBe('pending');
    });

    it('when the answer is signed by another key then 403 and still pending', async () => {
      const s = await setup();
      const forger = new DeviceClient({ ...s.device.state, private_key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }) });
      const body = forger.answerBody(s.uuid, 'approve', s.number, s.shown);
      const r = await postAnswer(ts.url, s.device, s.uuid, body);
      expect(r.status).toBe(403);
      expect(await statusOf(s.uuid)).toBe('pending');
      // The whole request signed by the forger: refused before the body is read.
      const r2 = await postAnswer(ts.url, forger, s.uuid, body);
      expect(r2.status).toBe(401);
      expect(r2.body).toEqual({ code: 'DEVICE_AUTH_FAILED', message: 'Device authentication failed' });
      expect(await statusOf(s.uuid)).toBe('pending');
    });

    it("when another user's device answers then 404 and still pending", async () => {
      const s = await setup();
      const mallory = await userWithDevice(ts, app.apiKey);
      const r = await postAnswer(ts.url, mallory.device, s.uuid, mallory.device.answerBody(s.uuid, 'approve', s.number, s.shown));
      expect(r.status).toBe(404);
      expect(await statusOf(s.uuid)).toBe('pending');
    });

    it('when a revoked device answers then 401 and still pending', async () => {
      const s = await setup();
      const del = await fetch(`${ts.url}/v1/users/${s.userId}/devices/${s.device.state.device_id}`, { method: 'DELETE', headers: { 'x-authy-api-key': app.apiKey } });
      expect(del.status).toBe(200);
      const r = await postAnswer(ts.url, s.device, s.uuid, s.device.answerBody(s.uuid, 'approve', s.number, s.shown));
      expect(r.status).toBe(401);
      expect(await statusOf(s.uuid)).toBe('pending');
    });

    it('when a nonce is replayed then 401 and still pending', async () => {
      const s = await setup();
      const nonce = 'replayed-nonce-0123456789';
      const path = `/v1/devices/${s.device.state.device_id}/approval_requests`;
      const first = await fetch(`${ts.url}${path}`, { headers: s.device.signedHeaders('GET', path, undefined, { nonce }) });
      expect(first.status).toBe(200);
      const again = await fetch(`${ts.url}${path}`, { headers: s.device.signedHeaders('GET', path, undefined, { nonce }) });
      expect(again.status).toBe(401);
      const r = await postAnswer(ts.url, s.device, s.uuid, s.device.answerBody(s.uuid, 'approve', s.number, s.shown), { nonce });
      expect(r.status).toBe(401);
      expect(await statusOf(s.uuid)).toBe('pending');
    });

    it('when the exact bytes of an answer are sent twice then the copy is refused', async () => {
      const s = await setup();
      const path = `/v1/devices/${s.device.state.device_id}/approval_requests/${s.uuid}/response`;
      const text = JSON.stringify(s.device.answerBody(s.uuid, 'deny', null, s.shown));
      const headers = { ...s.device.signedHeaders('POST', path, text), 'content-type': 'application/json' };
      const [a, b] = await Promise.all([
        fetch(`${ts.url}${path}`, { method: 'POST', headers, body: text }),
        fetch(`${ts.url}${path}`, { method: 'POST', headers, body: text }),
      ]);
      expect([a.status, b.status].sort()).toEqual([200, 401]);
      expect(await statusOf(s.uuid)).toBe('denied');
    });

    it('when the timestamp is stale then 401 and still pending', async () => {
      const s = await setup();
      const body = s.device.answerBody(s.uuid, 'approve', s.number, s.shown);
      for (const offset of [-120, 120]) {
        const r = await postAnswer(ts.url, s.device, s.uuid, body, { timestamp: Math.floor(Date.now() / 1000) + offset });
        expect(r.status).toBe(401);
      }
      expect(await statusOf(s.uuid)).toBe('pending');
    });

    it('when the details hash does not match what was requested then 403 and still pending', async () => {
      const s = await setup();
      const tampered = { message: s.shown.message, details: { ...s.shown.details, 'Email Address': 'attacker@example.com' } };
      const r = await postAnswer(ts.url, s.device, s.uuid, s.device.answerBody(s.uuid, 'approve', s.number, tampered));
      expect(r.status).toBe(403);
      expect(await statusOf(s.uuid)).toBe('pending');
    });

    it('when the request has expired then 409 and the status reads expired, with no callback', async () => {
      const s = await setup({ seconds_to_expire: 1 });
      const stream = collectEvents(s.device);
      await sleep(1100);
      const r = await postAnswer(ts.url, s.device, s.uuid, s.device.answerBody(s.uuid, 'approve', s.number, s.shown));
      expect(r.status).toBe(409);
      expect(r.body['code']).toBe('APPROVAL_NOT_PENDING');
      expect(await statusOf(s.uuid)).toBe('expired');
      await stream.until(() => stream.events.some((e) => e.type === 'approval_request_closed' && e.uuid === s.uuid));
      await stream.close();
      const outbox = await ts.system.db.selectFrom('callback_outbox').select('id').where('approval_uuid', '=', s.uuid).execute();
      expect(outbox).toHaveLength(0);
    });

    it('when the body is not JSON or misses fields then 400', async () => {
      const s = await setup();
      const path = `/v1/devices/${s.device.state.device_id}/approval_requests/${s.uuid}/response`;
      for (const text of ['{"decision":', '[]', '{"decision":"approve"}', '{"decision":"maybe","details_hash":"00","signature":"x"}']) {
        const r = await fetch(`${ts.url}${path}`, { method: 'POST', headers: { ...s.device.signedHeaders('POST', path, text), 'content-type': 'application/json' }, body: text });
        expect(r.status).toBe(400);
      }
      expect(await statusOf(s.uuid)).toBe('pending');
    });

    it('when a deny signature is presented as an approve (or the reverse) then 403 and still pending', async () => {
      const s = await setup();
      const deny = s.device.answerBody(s.uuid, 'deny', null, s.shown);
      const r = await postAnswer(ts.url, s.device, s.uuid, { ...deny, decision: 'approve', number: s.number });
      expect(r.status).toBe(403);
      expect(await statusOf(s.uuid)).toBe('pending');
      const approve = s.device.answerBody(s.uuid, 'approve', s.number, s.shown);
      const r2 = await postAnswer(ts.url, s.device, s.uuid, { ...approve, decision: 'deny', number: null });
      expect(r2.status).toBe(403);
      expect(await statusOf(s.uuid)).toBe('pending');
    });

    it('when wrong or missing numbers reach a web-app login request then the browser stays pending and cannot complete', async () => {
      const { u, device } = await appUserWithDevice(ts);
      const login = await passwordStep(ts, u, 'approve');
      const [req] = await pendingFor(device, 1);
      const wrongNumber = String((Number(login.number) + 1) % 100).padStart(2, '0');
      expect((await device.answer(req!, 'approve', wrongNumber)).status).toBe(403);
      expect((await device.answer(req!, 'approve', null)).status).toBe(403);
      await sleep(200);
      expect((await login.b.get('/authy/status')).body.status).toBe('pending');
      expect((await login.b.post('/session/complete', {})).status).toBe(409);
      expect((await login.b.get('/user')).status).toBe(401);
    });
  });
});
