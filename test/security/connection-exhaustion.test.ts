// Threat: holding the server's memory and sockets with cheap, long-lived connections — thousands
// of status streams from one half-logged-in session, event streams from one device, headers or
// bodies sent a byte at a time (slowloris) — and piling up activation links and devices on a user.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateDevice, DeviceClient } from '../../src/authenticator/client.js';
import { STATUS_STREAMS_PER_ATTEMPT } from '../../src/app/routes/index.js';
import { MAX_DEVICES_PER_USER, MAX_LIVE_ACTIVATIONS } from '../../src/verify/onetouch/devices.js';
import { STREAMS_PER_DEVICE } from '../../src/verify/onetouch/stream.js';
import { forEachDatabase } from '../helpers/databases.js';
import { openSse, type SseStream } from '../helpers/sse.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { activationLink, collectEvents, createApp, createApproval, registerUser, sleep } from '../onetouch/helpers.js';
import { passwordStep, userWithDevice } from './helpers.js';

/** Whether a stream has ended by now (its end already resolved). */
async function hasEnded(s: { ended: Promise<unknown> } | { done: Promise<unknown> }): Promise<boolean> {
  const p = 'ended' in s ? s.ended : s.done;
  return Promise.race([p.then(() => true, () => true), sleep(50).then(() => false)]);
}

/** A raw socket to the server and a promise of when the server closes it (ms after opening). */
function rawSocket(url: string): { socket: Socket; closedAfter: Promise<number> } {
  const u = new URL(url);
  const opened = performance.now();
  const socket = connect(Number(u.port), u.hostname);
  socket.on('error', () => {});
  socket.on('data', () => {});
  const closedAfter = new Promise<number>((resolve) => socket.on('close', () => resolve(performance.now() - opened)));
  return { socket, closedAfter };
}

forEachDatabase((kind) => {
  describe(`connection exhaustion on ${kind}`, () => {
    let t: TestSystem;
    let app: { id: number; apiKey: string };
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, env: { HEADERS_TIMEOUT_SECONDS: '2', REQUEST_TIMEOUT_SECONDS: '3', IDLE_TIMEOUT_SECONDS: '3' } });
      app = await createApp(t, null, 'Caps');
    });
    afterAll(() => t.stop());

    it('when one half-logged-in session opens 20 status streams then only the newest few stay open', async () => {
      const { u } = await userWithDevice(t);
      const { b } = await passwordStep(t, u, 'approve');
      const streams: SseStream[] = [];
      for (let i = 0; i < 20; i++) {
        const s = await openSse(`${t.url}/authy/status`, { cookie: b.cookie! });
        expect(s.status).toBe(200);
        await s.waitFor((e) => e.event === 'status');
        streams.push(s);
      }
      const ended = await Promise.all(streams.map(hasEnded));
      expect(ended.filter((e) => !e)).toHaveLength(STATUS_STREAMS_PER_ATTEMPT);
      expect(ended.slice(-STATUS_STREAMS_PER_ATTEMPT)).toEqual(Array.from({ length: STATUS_STREAMS_PER_ATTEMPT }, () => false));
      for (const s of streams) s.close();
    });

    it('when one device opens 20 event streams then only the newest few stay open, and they still get requests', async () => {
      const userId = await registerUser(t.url, app.apiKey);
      const device = new DeviceClient(await activateDevice(await activationLink(t.url, app.apiKey, userId), { name: 'streams' }));
      const streams: ReturnType<typeof collectEvents>[] = [];
      for (let i = 0; i < 20; i++) {
        const s = collectEvents(device);
        streams.push(s);
        // Each stream is open (its first bytes arrived) before the next one opens.
        await sleep(30);
      }
      await sleep(200);
      const ended = await Promise.all(streams.map(hasEnded));
      expect(ended.filter((e) => !e)).toHaveLength(STREAMS_PER_DEVICE);
      expect(ended.slice(-STREAMS_PER_DEVICE)).toEqual(Array.from({ length: STREAMS_PER_DEVICE }, () => false));
      expect((await createApproval(t.url, app.apiKey, userId, { message: 'Still live?' })).status).toBe(200);
      const live = streams.at(-1)!;
      await live.until(() => live.events.some((e) => e.type === 'approval_request'));
      for (const s of streams) await s.close();
    });

    it('when 50 clients send their headers a byte at a time then the server closes every one within the header timeout', async () => {
      const conns = Array.from({ length: 50 }, () => rawSocket(t.url));
      const drip = setInterval(() => {
        for (const c of conns) if (!c.socket.destroyed) c.socket.write('X');
      }, 300);
      for (const c of conns) c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      try {
        const closed = await Promise.all(conns.map((c) => Promise.race([c.closedAfter, sleep(15_000).then(() => Infinity)])));
        // HEADERS_TIMEOUT_SECONDS=2 here, checked every second (Node's defaults: 60 s, checked every 30 s).
        expect(Math.max(...closed)).toBeLessThan(6_000);
        expect(Math.min(...closed)).toBeGreaterThan(1_500);
      } finally {
        clearInterval(drip);
        for (const c of conns) c.socket.destroy();
      }
    });

    it('when a client sends a request body a byte at a time then the server closes it within the request timeout', async () => {
      const c = rawSocket(t.url);
      c.socket.write(`POST /session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nOrigin: ${t.url}\r\nContent-Length: 1000\r\n\r\n{`);
      const drip = setInterval(() => {
        if (!c.socket.destroyed) c.socket.write(' ');
      }, 300);
      try {
        const closed = await Promise.race([c.closedAfter, sleep(15_000).then(() => Infinity)]);
        expect(closed).toBeLessThan(7_000);
        expect(closed).toBeGreaterThan(2_500);
      } finally {
        clearInterval(drip);
        c.socket.destroy();
      }
    });

    it('when a client asks for large answers and never reads them then the server closes the connection once nothing moves', async () => {
      const html = await (await fetch(`${t.url}/`)).text();
      const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
      expect(asset).toBeDefined();
      const size = (await (await fetch(`${t.url}${asset}`)).arrayBuffer()).byteLength;
      const c = rawSocket(t.url);
      let received = 0;
      c.socket.removeAllListeners('data');
      c.socket.on('data', (b: Buffer) => (received += b.length));
      c.socket.pause();
      // 40 pipelined requests: megabytes of answer, far beyond what the socket buffers hold.
      c.socket.write(`GET ${asset} HTTP/1.1\r\nHost: x\r\n\r\n`.repeat(40));
      try {
        // IDLE_TIMEOUT_SECONDS=3 here (Node's default: never). A paused socket cannot see the
        // server close it: read on after the timeout and count what had been sent by then.
        await sleep(10_000);
        c.socket.resume();
        const closed = await Promise.race([c.closedAfter, sleep(20_000).then(() => Infinity)]);
        // Without the timeout every answer arrives, then the keep-alive timeout (5 s) closes.
        expect(closed).toBeLessThan(12_000);
        expect(received).toBeLessThan(40 * size);
      } finally {
        c.socket.destroy();
      }
    });

    it('when an app creates activation links in a loop then only the newest few stay usable', async () => {
      const userId = await registerUser(t.url, app.apiKey);
      const links: string[] = [];
      for (let i = 0; i < MAX_LIVE_ACTIVATIONS + 4; i++) links.push(await activationLink(t.url, app.apiKey, userId));
      const outcomes: (number | 'ok')[] = [];
      for (const link of links) {
        outcomes.push(
          await activateDevice(link, { name: 'phone' }).then(
            () => 'ok' as const,
            (e: { status?: number }) => e.status ?? -1,
          ),
        );
      }
      expect(outcomes).toEqual([...Array.from({ length: 4 }, () => 410), ...Array.from({ length: MAX_LIVE_ACTIVATIONS }, () => 'ok')]);
    });

    it('when a user already has the most devices then a new link and a concurrent burst of activations are refused beyond the cap', async () => {
      const userId = await registerUser(t.url, app.apiKey);
      for (let i = 0; i < MAX_DEVICES_PER_USER - 2; i++) await activateDevice(await activationLink(t.url, app.apiKey, userId), { name: `d${i}` });
      const links: string[] = [];
      for (let i = 0; i < MAX_LIVE_ACTIVATIONS; i++) links.push(await activationLink(t.url, app.apiKey, userId));
      // Five links redeemed at once, two places left: exactly two devices are added.
      const burst = await Promise.all(links.map((l, i) => activateDevice(l, { name: `burst${i}` }).then(() => 201, (e: { status?: number; code?: string }) => `${e.status} ${e.code}`)));
      expect(burst.filter((x) => x === 201)).toHaveLength(2);
      expect(burst.filter((x) => x === '409 TOO_MANY_DEVICES')).toHaveLength(3);
      const active = await t.system.db.selectFrom('devices').select('id').where('user_id', '=', userId).where('revoked_at', 'is', null).execute();
      expect(active).toHaveLength(MAX_DEVICES_PER_USER);
      // At the cap, no new link is even made.
      const r = await fetch(`${t.url}/v1/users/${userId}/activations`, { method: 'POST', headers: { 'x-authy-api-key': app.apiKey, 'content-type': 'application/json' }, body: '{}' });
      expect(r.status).toBe(409);
      expect(await r.json()).toMatchObject({ code: 'TOO_MANY_DEVICES' });
    });
  });
});
