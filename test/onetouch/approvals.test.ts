import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import {
  approvalStatus,
  CallbackReceiver,
  collectEvents,
  createApp,
  createApproval,
  postAnswer,
  registerUser,
  sleep,
  userWithDevice,
} from './helpers.js';

forEachDatabase((kind) => {
  describe(`OneTouch approval requests (${kind})`, () => {
    let ts: TestSystem;
    const rx = new CallbackReceiver();
    let app: { id: number; apiKey: string };

    beforeAll(async () => {
      ts = await startTestSystem({ db: kind });
      await rx.start();
      app = await createApp(ts, rx.url, `Approvals ${kind}`);
    });
    afterAll(async () => {
      await ts.stop();
      await rx.stop();
    });

    const statusOf = async (uuid: string) => (await approvalStatus(ts.url, app.apiKey, uuid)).body['approval_request']?.status as string;

    describe('creation and status (Authy wire)', () => {
      it('when a request is created then its status has every Authy field', async () => {
        const { userId } = await userWithDevice(ts, app.apiKey);
        const c = await createApproval(ts.url, app.apiKey, userId, { seconds_to_expire: 300 });
        expect(c.status).toBe(200);
        expect(c.text).toMatch(/^\{"approval_request":\{"uuid":"[0-9a-f-]{36}"\},"success":true\}$/);
        const uuid = c.body['approval_request'].uuid as string;
        expect(uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        const s = await approvalStatus(ts.url, app.apiKey, uuid);
        expect(s.status).toBe(200);
        const a = s.body['approval_request'];
        expect(a).toMatchObject({ _app_name: `Approvals ${kind}`, _app_serial_id: app.id, _authy_id: userId, app_id: String(app.id), user_id: String(userId), uuid, status: 'pending', seconds_to_expire: 300, notified: true, processed_at: null });
        expect(a._user_email).toMatch(/^[^@\s]+@[^@\s]+\.[a-z]+$/);
        expect(typeof a._id).toBe('string');
        expect(new Date(a.created_at).getTime()).toBeGreaterThan(0);
        expect(new Date(a.updated_at).getTime()).toBeGreaterThan(0);
      });

      it('when number_matching is asked then a two-digit number comes back', async () => {
        const { userId } = await userWithDevice(ts, app.apiKey);
        const c = await createApproval(ts.url, app.apiKey, userId, { number_matching: true });
        expect(c.body['number']).toMatch(/^\d{2}$/);
        expect(c.body['approval_request'].number).toBe(c.body['number']);
      });

      it.each([
        ['message missing', { message: undefined }],
        ['message empty', { message: '' }],
        ['message of 145 characters', { message: 'x'.repeat(145) }],
        ['message as an array', { message: undefined, 'message[]': 'a' }],
        ['nested details', { 'details[a][b]': 'c' }],
        ['seconds_to_expire negative', { seconds_to_expire: '-1' }],
        ['seconds_to_expire not a number', { seconds_to_expire: 'soon' }],
        ['seconds_to_expire fractional', { seconds_to_expire: '1.5' }],
        ['seconds_to_expire too large', { seconds_to_expire: '999999999' }],
        ['a logo without url', { 'logos[0][res]': 'default' }],
        ['a logo with a bad res', { 'logos[0][res]': 'huge', 'logos[0][url]': 'https://x.test/a.png' }],
      ])('when %s then 400 with error_code 60004', async (_name, params) => {
        const { userId } = await userWithDevice(ts, app.apiKey);
        const c = await createApproval(ts.url, app.apiKey, userId, params as Record<string, string>);
        expect(c.status).toBe(400);
        expect(c.body).toMatchObject({ success: false, error_code: '60004' });
      });

      it('when seconds_to_expire is 0 then the request never expires', async () => {
        const { userId, device } = await userWithDevice(ts, app.apiKey);
        const c = await createApproval(ts.url, app.apiKey, userId, { seconds_to_expire: 0 });
        const s = await approvalStatus(ts.url, app.apiKey, c.body['approval_request'].uuid);
        expect(s.body['approval_request']).toMatchObject({ seconds_to_expire: 0, status: 'pending' });
        expect((await device.pending())[0]!.expires_at).toBeNull();
      });

      it('when hidden details are given then the device never sees them and the callback carries them', async () => {
        const { userId, device } = await userWithDevice(ts, app.apiKey);
        const c = await createApproval(ts.url, app.apiKey, userId, { 'hidden_details[login_attempt]': 'attempt-42', 'details[Browser]': 'Firefox' });
        const uuid = c.body['approval_request'].uuid as string;
        const shown = (await device.pending())[0]!;
        expect(JSON.stringify(shown)).not.toContain('attempt-42');
        expect(shown.details).toEqual({ 'Email Address': 'a@example.com', Browser: 'Firefox' });
        await device.respond(uuid, 'approve', null, shown);
        const found = () => rx.received.find((x) => x.body['uuid'] === uuid);
        for (let i = 0; i < 100 && !found(); i++) await sleep(50);
        const tx = (found()!.body['approval_request'] as { transaction: Record<string, unknown> }).transaction;
        expect(tx['hidden_details']).toEqual({ login_attempt: 'attempt-42' });
        expect(tx['details']).toEqual({ 'Email Address': 'a@example.com', Browser: 'Firefox' });
      });

      it('when the message has 144 emoji then it is accepted (characters, not bytes)', async () => {
        const { userId } = await userWithDevice(ts, app.apiKey);
        const c = await createApproval(ts.url, app.apiKey, userId, { message: '🔐'.repeat(144), 'logos[0][res]': 'default', 'logos[0][url]': 'https://x.test/a.png' });
        expect(c.status).toBe(200);
      });

      it('when the JSON body is malformed then 400, never 500', async () => {
        const { userId } = await userWithDevice(ts, app.apiKey);
        const r = await fetch(`${ts.url}/onetouch/json/users/${userId}/approval_requests`, {
          method: 'POST',
          headers: { 'x-authy-api-key': app.apiKey, 'content-type': 'application/json' },
          body: '{"message": ',
        });
        expect(r.status).toBe(400);
        expect(((await r.json()) as { success: boolean }).success).toBe(false);
      });

      it('when the user is unknown or belongs to another app then 404 60026', async () => {
        const other = await createApp(ts, null, 'Other');
        const theirs = await registerUser(ts.url, other.apiKey);
        for (const id of [String(theirs), '999999', 'abc', '-1']) {
          const c = await createApproval(ts.url, app.apiKey, id);
          expect(c.status).toBe(404);
          expect(c.body).toMatchObject({ success: false, error_code: '60026', message: 'User not found.' });
        }
      });

      it('when the user has no active authenticator then 404 60050 so the app falls back to codes', async () => {
        const userId = await registerUser(ts.url, app.apiKey);
        const c = await createApproval(ts.url, app.apiKey, userId);
        expect(c.status).toBe(404);
        expect(c.text).toBe(
          '{"message":"User doesn\'t have OneTouch enabled","success":false,"errors":{"message":"User doesn\'t have OneTouch enabled"},"error_code":"60050"}',
        );
      });

      it('when another app asks for the status then 404 60049', async () => {
        const { userId } = await userWithDevice(ts, app.apiKey);
        const c = await createApproval(ts.url, app.apiKey, userId);
        const other = await createApp(ts, null, 'Nosy');
        const s = await approvalStatus(ts.url, other.apiKey, c.body['approval_request'].uuid);
        expect(s.status).toBe(404);
        expect(s.body).toMatchObject({ success: false, error_code: '60049' });
        expect((await approvalStatus(ts.url, app.apiKey, 'not-a-uuid')).status).toBe(404);
        expect((await approvalStatus(ts.url, app.apiKey, '00000000-0000-4000-8000-000000000000')).status).toBe(404);
      });

      it('when the API key is wrong then 401 60001', async () => {
        const c = await createApproval(ts.url, 'wrong-key-wrong-key', 1);
        expect(c.status).toBe(401);
        expect(c.body['error_code']).toBe('60001');
      });
    });

    describe('number guessing', () => {
      it('when three wrong numbers were sent then even the right number is refused', async () => {
        const { userId, device } = await userWithDevice(ts, app.apiKey);
        const c = await createApproval(ts.url, app.apiKey, userId, { number_matching: true });
        const uuid = c.body['approval_request'].uuid as string;
        const number = c.body['number'] as string;
        const shown = (await device.pending())[0]!;
        for (let i = 1; i <= 3; i++) {
          const wrong = String((Number(number) + i) % 100).padStart(2, '0');
          expect((await postAnswer(ts.url, device, uuid, device.answerBody(uuid, 'approve', wrong, shown))).status).toBe(403);
        }
        expect((await postAnswer(ts.url, device, uuid, device.answerBody(uuid, 'approve', number, shown))).status).toBe(403);
        expect(await statusOf(uuid)).toBe('pending');
        // It can still be denied.
        expect((await postAnswer(ts.url, device, uuid, device.answerBody(uuid, 'deny', null, shown))).status).toBe(200);
        expect(await statusOf(uuid)).toBe('denied');
      });

      it('when all 100 numbers are tried at once then at most three are compared', async () => {
        const { userId, device } = await userWithDevice(ts, app.apiKey);
        const c = await createApproval(ts.url, app.apiKey, userId, { number_matching: true });
        const uuid = c.body['approval_request'].uuid as string;
        const shown = (await device.pending())[0]!;
        const all = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
        const results = await Promise.all(all.map((n) => postAnswer(ts.url, device, uuid, device.answerBody(uuid, 'approve', n, shown))));
        const row = await ts.system.db.selectFrom('approval_requests').select(['number_attempts', 'status']).where('uuid', '=', uuid).executeTakeFirstOrThrow();
        expect(row.number_attempts).toBeLessThanOrEqual(3);
        expect(results.filter((r) => r.status === 200).length).toBeLessThanOrEqual(1);
      });
    });

    describe('event stream', () => {
      it('when the stream reconnects with Last-Event-ID then nothing is lost and nothing repeats', async () => {
        const { userId, device } = await userWithDevice(ts, app.apiKey);
        const first = collectEvents(device);
        const a = await createApproval(ts.url, app.apiKey, userId, { message: 'one' });
        await first.until(() => first.events.length >= 1);
        await first.close();
        const lastId = first.events.flatMap((e) => (e.type === 'approval_request' ? [e.id] : []))[0]!;
        const b = await createApproval(ts.url, app.apiKey, userId, { message: 'two' });
        const c = await createApproval(ts.url, app.apiKey, userId, { message: 'three' });
        const second = collectEvents(device, lastId);
        await second.until(() => second.events.length >= 2);
        await sleep(200);
        await second.close();
        const got = second.events.flatMap((e) => (e.type === 'approval_request' ? [e.request.uuid] : []));
        expect(got).toEqual([b.body['approval_request'].uuid, c.body['approval_request'].uuid]);
        expect(got).not.toContain(a.body['approval_request'].uuid);
      });

      it('when a request is answered then open streams hear it closed', async () => {
        const { userId, device } = await userWithDevice(ts, app.apiKey);
        const stream = collectEvents(device);
        const c = await createApproval(ts.url, app.apiKey, userId);
        const uuid = c.body['approval_request'].uuid as string;
        await stream.until(() => stream.events.length >= 1);
        const shown = (await device.pending())[0]!;
        expect(await device.respond(uuid, 'deny', null, shown)).toBe('denied');
        await stream.until(() => stream.events.some((e) => e.type === 'approval_request_closed' && e.status === 'denied'));
        await stream.close();
      });

      it('when the device is revoked then its open stream ends', async () => {
        const { userId, device } = await userWithDevice(ts, app.apiKey);
        const stream = collectEvents(device);
        await sleep(200);
        await fetch(`${ts.url}/v1/users/${userId}/devices/${device.state.device_id}`, { method: 'DELETE', headers: { 'x-authy-api-key': app.apiKey } });
        await expect(Promise.race([stream.done.then(() => 'ended'), sleep(5000).then(() => 'still open')])).resolves.toBe('ended');
      });
    });

    describe('audit', () => {
      it('when a request is created and answered then both are in the audit trail', async () => {
        const { userId, device } = await userWithDevice(ts, app.apiKey);
        const c = await createApproval(ts.url, app.apiKey, userId);
        const uuid = c.body['approval_request'].uuid as string;
        await device.respond(uuid, 'approve', null, (await device.pending())[0]!);
        const events = await ts.system.platform.audit.forUser(`authy:${userId}`);
        const types = events.map((e) => `${e.type}:${e.outcome}`);
        expect(types).toEqual(expect.arrayContaining(['device_activated:success', 'approval_requested:info', 'approval_answered:success']));
        expect(events.find((e) => e.type === 'approval_answered')!.detail['device_id']).toBe(device.state.device_id);
      });
    });
  });
});
