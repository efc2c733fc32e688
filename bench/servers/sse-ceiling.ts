/**
 * The ceiling of waiting browsers: a bare `node:http` server holding Server-Sent Event streams
 * as the web app's `GET /authy/status` does on the wire, and nothing else (no Express, no
 * session, no database, no event bus). Each stream gets the app's headers (its own and those
 * every answer carries), the `retry:` line and a first `status` event of the same size, then a
 * keep-alive comment every 20 s from one shared interval (the app's STATUS_PING_MS). Started by
 * `startChild('servers/sse-ceiling.ts')` in the same process set-up as Twofold (`--import tsx`).
 *
 * Commands: memory → process.memoryUsage(); heapSpaces → v8.getHeapSpaceStatistics(); gc → a full
 * GC (with --expose-gc); heap { file } → a heap snapshot.
 */
import http, { type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveChild } from '../lib.js';

/** The app's keep-alive comment interval (src/app/routes/status-stream.ts). */
const PING_MS = 20_000;

const open = new Set<ServerResponse>();
const ping = setInterval(() => {
  for (const res of open) res.write(': ping\n\n');
}, PING_MS);
ping.unref();

const server = http.createServer((req, res) => {
  if (req.method !== 'GET' || !req.url?.startsWith('/authy/status')) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, {
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-store',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.write('retry: 3000\n\n');
  // What the app sends a login waiting for an approval (as bench/servers/twofold.ts seeds it).
  const status = { status: 'pending', expires_at: Date.now() + 120_000, number: '42', details: { Email: 'bench@example.com', Browser: 'Bench', IP: '127.0.0.1' } };
  res.write(`event: status\ndata: ${JSON.stringify(status)}\n\n`);
  open.add(res);
  req.on('close', () => open.delete(res));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

serveChild(
  `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  {
  },
  async () => {
    clearInterval(ping);
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  },
);
