/**
 * Metric 2, second-factor verification throughput: the full `POST /session/verify` with a valid
 * TOTP code, each request its own login attempt (a half session waiting for a code) and its
 * own (user, time step) pair, all prepared before the clock starts. The peer in the same run:
 * better-auth's `POST /api/auth/two-factor/verify-totp`, each request its own pending sign-in.
 *
 * A user's codes for the current and the next 30-s step are both accepted (±1 step) for as long
 * as a run lasts under 30 s, so each user gives two requests. Each side first gets a warm-up
 * tenth of its requests (not counted), then the rest with 10 connections.
 */
import { load, profiled, requireClean, startChild, suite, type Child, type LoadRequest, type LoadResult } from './lib.js';
import { base32Decode, generateTotp } from '../src/verify/core/totp.js';

const TWOFOLD_REQUESTS = Number(process.env['BENCH_TOTP_TWOFOLD'] ?? 2400);
const PEER_REQUESTS = Number(process.env['BENCH_TOTP_PEER'] ?? 700);
const CONNECTIONS = 10;
const MAX_SECONDS = 20;

type Login = { cookie: string; secret: string };

/** Two requests per user: the code of this step and of the next; users interleaved. */
function requests(logins: Login[][], make: (cookie: string, code: string) => LoadRequest): LoadRequest[] {
  const now = Date.now();
  const out: LoadRequest[] = [];
  for (let step = 0; step < 2; step++) {
    for (const mine of logins) {
      const l = mine[step]!;
      out.push(make(l.cookie, generateTotp(base32Decode(l.secret), now + step * 30_000)));
    }
  }
  return out;
}

async function measure(what: string, reqs: LoadRequest[], s: Child): Promise<LoadResult> {
  const warm = Math.floor(reqs.length / 10);
  requireClean(`${what} warm-up`, await load({ url: s.url, server: s, connections: CONNECTIONS, requests: reqs.slice(0, warm), maxSeconds: MAX_SECONDS }));
  const r = await profiled(s, what.split(' ')[0]!, () => load({ url: s.url, server: s, connections: CONNECTIONS, requests: reqs.slice(warm), maxSeconds: MAX_SECONDS }));
  return requireClean(what, r);
}

async function twofold(): Promise<LoadResult> {
  const s = await startChild('servers/twofold.ts');
  try {
    const logins = await s.call<Login[][]>('seedCodeLogins', { users: Math.ceil(TWOFOLD_REQUESTS / 2), perUser: 2 });
    const reqs = requests(logins, (cookie, code) => ({
      method: 'POST',
      path: '/session/verify',
      headers: { cookie, origin: s.url, 'content-type': 'application/json' },
      body: JSON.stringify({ code }),
    }));
    return await measure('twofold /session/verify', reqs, s);
  } finally {
    await s.stop();
  }
}

async function betterAuth(): Promise<LoadResult> {
  const s = await startChild('servers/better-auth.ts', { BENCH_BA_FAST_PASSWORDS: '1' });
  try {
    const logins = await s.call<Login[][]>('seedTwoFactorLogins', { users: Math.ceil(PEER_REQUESTS / 2), perUser: 2 });
    const reqs = requests(logins, (cookie, code) => ({
      method: 'POST',
      path: '/api/auth/two-factor/verify-totp',
      headers: { cookie, origin: s.url, 'content-type': 'application/json' },
      body: JSON.stringify({ code }),
    }));
    return await measure('better-auth verify-totp', reqs, s);
  } finally {
    await s.stop();
  }
}

await suite('totp-verify', async () => {
  const t = await twofold();
  const b = await betterAuth();
  return [
    { name: 'totp_verify_throughput', unit: 'req/s', value: t.rps, peer: { name: 'better-auth verify-totp', value: b.rps } },
    { name: 'totp_verify_p99', unit: 'ms', value: t.p99, peer: { name: 'better-auth verify-totp', value: b.p99 } },
    { name: 'totp_verify_server_cpu', unit: 'ms/req', value: t.cpuMsPerRequest, peer: { name: 'better-auth verify-totp', value: b.cpuMsPerRequest } },
  ];
});
