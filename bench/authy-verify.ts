/**
 * Metric 4, Authy API verify-token throughput: `GET /protected/json/verify/{token}/{id}` with
 * the app's API key and a valid TOTP code, each request its own (user, time step) pair, all
 * prepared beforehand (a warm-up tenth first, not counted). The ceiling in the same run: an
 * Express hello-world on the same machine, same connections, for SECONDS.
 */
import { load, profiled, requireClean, startChild, suite, type LoadRequest, type LoadResult } from './lib.js';
import { base32Decode, generateTotp } from '../src/verify/core/totp.js';

const REQUESTS = Number(process.env['BENCH_AUTHY_REQUESTS'] ?? 4400);
const CONNECTIONS = 10;
const SECONDS = 4;

async function twofold(): Promise<LoadResult> {
  const s = await startChild('servers/twofold.ts');
  try {
    const { apiKey, users } = await s.call<{ apiKey: string; users: { id: number; secret: string }[] }>('seedServiceUsers', { users: Math.ceil(REQUESTS / 2) });
    const now = Date.now();
    const reqs: LoadRequest[] = [];
    for (let step = 0; step < 2; step++) {
      for (const u of users) {
        const code = generateTotp(base32Decode(u.secret), now + step * 30_000);
        reqs.push({ method: 'GET', path: `/protected/json/verify/${code}/${u.id}`, headers: { 'x-authy-api-key': apiKey } });
      }
    }
    const warm = Math.floor(reqs.length / 10);
    requireClean('authy verify warm-up', await load({ url: s.url, server: s, connections: CONNECTIONS, requests: reqs.slice(0, warm) }));
    const r = await profiled(s, 'authy-verify', () => load({ url: s.url, server: s, connections: CONNECTIONS, requests: reqs.slice(warm), maxSeconds: 20 }));
    return requireClean('authy verify', r);
  } finally {
    await s.stop();
  }
}

async function hello(): Promise<LoadResult> {
  const s = await startChild('servers/express-hello.ts');
  try {
    const request: LoadRequest = { method: 'GET', path: '/', headers: {} };
    requireClean('hello warm-up', await load({ url: s.url, server: s, connections: CONNECTIONS, request, seconds: 1 }));
    return requireClean('hello', await load({ url: s.url, server: s, connections: CONNECTIONS, request, seconds: SECONDS }));
  } finally {
    await s.stop();
  }
}

await suite('authy-verify', async () => {
  const t = await twofold();
  const h = await hello();
  return [
    { name: 'authy_verify_token_throughput', unit: 'req/s', value: t.rps, ceiling: { name: 'Express hello-world', value: h.rps } },
    { name: 'authy_verify_token_server_cpu', unit: 'ms/req', value: t.cpuMsPerRequest, ceiling: { name: 'Express hello-world', value: h.cpuMsPerRequest } },
  ];
});
