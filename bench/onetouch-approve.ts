/**
 * OneTouch latency over loopback HTTP: create an approval request (Authy API), approve it from
 * a device (signed answer), and wait for the signed callback at the app's endpoint.
 *
 *   npx tsx bench/onetouch-approve.ts            (SQLite in a temporary DATA_DIR)
 *   BENCH_DATABASE_URL=postgres://… npx tsx bench/onetouch-approve.ts
 *
 * Bounded: BENCH_REQUESTS requests (default 300) over BENCH_USERS users (default 10), with
 * BENCH_CONCURRENCY requests in flight (default 4). Prints p50/p95/p99/max in milliseconds.
 */
import { percentiles, startBenchSystem } from './lib.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { activateDevice, DeviceClient } from '../src/authenticator/client.js';
import { AppStore } from '../src/verify/core/apps.js';
import { storeAppSigningKey } from '../src/verify/onetouch/signing-keys.js';

const REQUESTS = Number(process.env['BENCH_REQUESTS'] ?? 300);
const USERS = Number(process.env['BENCH_USERS'] ?? 10);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 4);

async function main(): Promise<void> {
  const { system, config, url, dbUrl, stop } = await startBenchSystem('ot', { PUSH_PER_USER_LIMIT: '1000000' });

  const waiting = new Map<string, () => void>();
  const receiver = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', () => {
      const uuid = (JSON.parse(raw) as { uuid: string }).uuid;
      waiting.get(uuid)?.();
      res.end('ok');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  const callbackUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/authy/callback`;

  try {
    const p = system.platform;
    const { app, apiKey } = await new AppStore(p.db.db, p.clock).create({ name: 'Bench', callbackUrl });
    await storeAppSigningKey(p, app.id, apiKey);
    const headers = { 'X-Authy-API-Key': apiKey, 'content-type': 'application/json' };
    const users: { id: number; device: DeviceClient }[] = [];
    for (let i = 0; i < USERS; i++) {
      const reg = (await fetch(`${url}/protected/json/users/new`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ user: { email: `bench${i}@example.com`, cellphone: `212555${String(1000 + i).slice(-4)}`, country_code: '1' } }),
      }).then((r) => r.json())) as { user: { id: number } };
      const act = (await fetch(`${url}/v1/users/${reg.user.id}/activations`, { method: 'POST', headers }).then((r) => r.json())) as { activation: { link: string } };
      users.push({ id: reg.user.id, device: new DeviceClient(await activateDevice(act.activation.link, { name: `bench ${i}` })) });
    }

    const create: number[] = [];
    const approve: number[] = [];
    const total: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < REQUESTS) {
          const i = next++;
          const u = users[i % users.length]!;
          const details = { 'Email Address': `bench${i}@example.com`, Request: String(i) };
          const t0 = performance.now();
          const r = (await fetch(`${url}/onetouch/json/users/${u.id}/approval_requests`, {
            method: 'POST',
            headers,
            body: JSON.stringify({ message: 'Bench login', details, number_matching: true }),
          }).then((x) => x.json())) as { approval_request: { uuid: string }; number: string };
          const t1 = performance.now();
          const uuid = r.approval_request.uuid;
          const delivered = new Promise<void>((res) => waiting.set(uuid, res));
          await u.device.respond(uuid, 'approve', r.number, { message: 'Bench login', details });
          const t2 = performance.now();
          await delivered;
          const t3 = performance.now();
          waiting.delete(uuid);
          create.push(t1 - t0);
          approve.push(t2 - t1);
          total.push(t3 - t0);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    console.log(`OneTouch bench (${dbUrl ? 'PostgreSQL' : 'SQLite'}): ${REQUESTS} requests, ${USERS} users, concurrency ${CONCURRENCY}, ${(REQUESTS / seconds).toFixed(1)} flows/s`);
    console.log(`  create            ${percentiles(create)} ms`);
    console.log(`  approve           ${percentiles(approve)} ms`);
    console.log(`  create→callback   ${percentiles(total)} ms`);
  } finally {
    receiver.closeAllConnections();
    receiver.close();
    await stop();
  }
}

await main();
