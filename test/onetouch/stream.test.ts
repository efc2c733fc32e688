import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Approvals } from '../../src/verify/onetouch/approvals.js';
import { userChannel } from '../../src/verify/onetouch/user-events.js';
import { Devices } from '../../src/verify/onetouch/devices.js';
import { DeviceStreams, PING_INTERVAL_MS } from '../../src/verify/onetouch/stream.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { sleep, unusedTotp } from './helpers.js';
import { directoryOf, oneTouchPlatform } from '../helpers/contexts.js';

describe('device event stream framing', () => {
  let ts: TestSystem;
  let server: Server;
  let url: string;
  let streams: DeviceStreams;

  beforeAll(async () => {
    ts = await startTestSystem();
    const p = oneTouchPlatform(ts.system.platform);
    const approvals = new Approvals(p, new Devices(p, unusedTotp, directoryOf(ts.system.platform)), directoryOf(ts.system.platform), () => {});
    streams = new DeviceStreams(p, approvals, 50);
    const app = express();
    app.get('/events', (req, res) => void streams.serve(req, res, { id: '00000000-0000-4000-8000-000000000001', userId: 424242, name: 'n' }));
    server = await new Promise<Server>((r) => {
      const s = app.listen(0, '127.0.0.1', () => r(s));
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
  });
  afterAll(async () => {
    streams.closeAll();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await ts.stop();
  });

  it('when a stream is open then it is text/event-stream with a retry hint and pings as comments (every 20 s in production)', async () => {
    expect(PING_INTERVAL_MS).toBe(20_000);
    const controller = new AbortController();
    const res = await fetch(url, { signal: controller.signal });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('cache-control')).toMatch(/no-cache/);
    const reader = res.body!.getReader();
    let text = '';
    const until = Date.now() + 3000;
    while (!text.includes(': ping\n\n') && Date.now() < until) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    controller.abort();
    expect(text.startsWith('retry: 2000\n\n')).toBe(true);
    expect(text).toContain(': ping\n\n');
  });

  it('when another device of the user is revoked then this stream stays open, and when this one is then it ends', async () => {
    const controller = new AbortController();
    const res = await fetch(url, { signal: controller.signal });
    const reader = res.body!.getReader();
    let ended = false;
    const reading = (async () => {
      for (;;) {
        const { done } = await reader.read().catch(() => ({ done: true }));
        if (done) break;
      }
      ended = true;
    })();
    await sleep(100);
    await ts.system.platform.bus.publish(userChannel(424242), { kind: 'device_revoked', device_id: '00000000-0000-4000-8000-000000000002' });
    await sleep(200);
    expect(ended).toBe(false);
    await ts.system.platform.bus.publish(userChannel(424242), { kind: 'device_revoked', device_id: '00000000-0000-4000-8000-000000000001' });
    await Promise.race([reading, sleep(3000)]);
    expect(ended).toBe(true);
    controller.abort();
  });
});
