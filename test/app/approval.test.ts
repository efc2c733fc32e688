import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../helpers/databases.js';
import { openSse } from '../helpers/sse.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { Browser, eventually, newUser, TestDevice, type PendingApproval, signUp } from './helpers.js';

/** Sign up, activate a device from the user page, log out. */
async function userWithDevice(t: TestSystem) {
  const u = newUser();
  const b = new Browser(t.url);
  await signUp(b, u);
  const act = await b.post('/user/authenticators', {});
  expect(act.status).toBe(201);
  const link = (act.body.activation as { link: string }).link;
  expect(link).toContain('/authenticator/#activate=');
  const device = await TestDevice.activate(t.url, link);
  const me = await b.get('/user');
  expect((me.body.devices as unknown[]).length).toBe(1);
  expect((await b.del('/session')).status).toBe(200);
  return { u, device };
}

async function passwordStep(t: TestSystem, u: { email: string; password: string }) {
  const b = new Browser(t.url);
  const r = await b.post('/session', { email: u.email, password: u.password });
  expect(r.status).toBe(200);
  expect(r.body.state).toBe('approve');
  return { b, number: r.body.number as string, details: r.body.details as Record<string, string> };
}

async function pendingFor(device: TestDevice, count: number): Promise<PendingApproval[]> {
  return eventually(async () => {
    const list = await device.pending();
    return list.length >= count ? list : undefined;
  });
}

/** Read SSE `status` events from /authy/status until the server ends the stream (or timeout). */
async function watchStatus(b: Browser, timeoutMs = 8000): Promise<string[]> {
  const stream = await openSse(`${b.base}/authy/status`, { cookie: b.cookie! });
  expect(stream.headers.get('content-type')).toContain('text/event-stream');
  await Promise.race([stream.ended, new Promise((r) => setTimeout(r, timeoutMs))]);
  stream.close();
  return stream.events.filter((e) => e.event === 'status').map((e) => (JSON.parse(e.data) as { status: string }).status);
}

forEachDatabase((kind) => {
  describe(`login approved on an authenticator on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(async () => {
      await t?.stop();
    });

    it('when the device approves with the number then the SSE stream says approved and /session/complete logs in with a new token', async () => {
      const { u, device } = await userWithDevice(t);
      const { b, number, details } = await passwordStep(t, u);
      expect(number).toMatch(/^\d{2}$/);
      expect(details).toMatchObject({ Email: u.email, Browser: 'Chrome on Linux' });
      const json = await b.get('/authy/status');
      expect(json.body).toMatchObject({ status: 'pending', number });
      expect((await b.post('/session/complete', {})).status).toBe(409);
      const watching = watchStatus(b);
      const [req] = await pendingFor(device, 1);
      expect(req!.details).toMatchObject({ Email: u.email });
      const answer = await device.answer(req!, 'approve', number);
      expect(answer.status).toBe(200);
      expect(await watching).toEqual(['pending', 'approved']);
      const half = b.cookie;
      const done = await b.post('/session/complete', {});
      expect(done.status).toBe(200);
      expect(b.cookie).not.toBe(half);
      expect((await b.get('/user')).status).toBe(200);
      // Completing twice is refused: the half token is gone.
      const replay = new Browser(t.url);
      replay.cookie = half;
      expect((await replay.post('/session/complete', {})).status).toBe(401);
    });

    /** Threat: a race between two completions yielding two logged-in sessions from one approval. */
    it('when /session/complete is called concurrently after one approval then exactly one new session is issued', async () => {
      const { u, device } = await userWithDevice(t);
      const { b, number } = await passwordStep(t, u);
      const [req] = await pendingFor(device, 1);
      expect((await device.answer(req!, 'approve', number)).status).toBe(200);
      await eventually(async () => ((await b.get('/authy/status')).body.status === 'approved' ? true : undefined));
      const half = b.cookie;
      const burst = await Promise.all(
        Array.from({ length: 6 }, async () => {
          const c = new Browser(t.url);
          c.cookie = half;
          const r = await c.post('/session/complete', {});
          return { status: r.status, cookie: c.cookie };
        }),
      );
      const ok = burst.filter((r) => r.status === 200);
      expect(ok).toHaveLength(1);
      expect(burst.filter((r) => r.status !== 200).every((r) => r.status === 401 || r.status === 409)).toBe(true);
      const winner = new Browser(t.url);
      winner.cookie = ok[0]!.cookie;
      expect((await winner.get('/user')).status).toBe(200);
    });

    /** Threat: an approval tapped by reflex for someone else's login (number matching). */
    it('when the device sends the wrong number then the approval is refused and the attempt stays pending', async () => {
      const { u, device } = await userWithDevice(t);
      const { b, number } = await passwordStep(t, u);
      const [req] = await pendingFor(device, 1);
      const wrong = number === '00' ? '01' : '00';
      expect((await device.answer(req!, 'approve', wrong)).status).toBe(403);
      expect((await b.get('/authy/status')).body.status).toBe('pending');
      expect((await b.post('/session/complete', {})).status).toBe(409);
    });

    it('when the device denies then the stream says denied, completion is refused and a code still works', async () => {
      const { u, device } = await userWithDevice(t);
      const { b } = await passwordStep(t, u);
      const watching = watchStatus(b);
      const [req] = await pendingFor(device, 1);
      expect((await device.answer(req!, 'deny', null)).status).toBe(200);
      expect(await watching).toEqual(['pending', 'denied']);
      expect((await b.post('/session/complete', {})).status).toBe(409);
      const code = totpNow(device.totpSecret);
      const v = await b.post('/session/verify', { code });
      expect(v.status).toBe(200);
      expect((await b.get('/user')).status).toBe(200);
      const me = await b.get('/user');
      const types = (me.body.events as { type: string; outcome: string; detail: Record<string, unknown> }[]).map((e) => `${e.type}:${e.outcome}:${String(e.detail.kind ?? e.detail.status ?? '')}`);
      expect(types).toEqual(expect.arrayContaining(['approval_answered:failure:denied', 'second_factor:success:totp', 'login:success:totp']));
    });

    it('when a user page revokes the device then it disappears from the list', async () => {
      const u = newUser();
      const b = new Browser(t.url);
      await signUp(b, u);
      const act = await b.post('/user/authenticators', { name: 'Phone' });
      const device = await TestDevice.activate(t.url, (act.body.activation as { link: string }).link);
      expect((await b.del(`/user/authenticators/${device.id}`)).status).toBe(200);
      expect((await b.get('/user')).body.devices).toEqual([]);
      expect((await b.del(`/user/authenticators/00000000-0000-4000-8000-000000000000`)).status).toBe(404);
    });
  });
});

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s) for the test device's seed. */
function totpNow(base32: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of base32.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30_000)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const off = mac[mac.length - 1]! & 0xf;
  const n = (mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, '0');
}
