/**
 * TOTP verifications per second over HTTP, on loopback only, against a fresh system.
 *
 *   npx tsx bench/verify-totp.ts            (SQLite in a temporary DATA_DIR)
 *   BENCH_DATABASE_URL=postgres://… npx tsx bench/verify-totp.ts
 *
 * Bounded: BENCH_USERS users (default 300), each verifies one valid code (every TOTP step is
 * usable once) and then BENCH_WRONG wrong codes (default 5), with BENCH_CONCURRENCY requests in
 * flight (default 16).
 */
import { pool, startBenchSystem } from './lib.js';
import { base32Decode, generateTotp } from '../src/verify/core/totp.js';

const USERS = Number(process.env['BENCH_USERS'] ?? 300);
const WRONG = Number(process.env['BENCH_WRONG'] ?? 5);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 16);

async function main(): Promise<void> {
  const { system, config, url, stop } = await startBenchSystem('totp', { OTP_LOCKOUT_THRESHOLD: '100' });
  const headers = { 'X-Authy-API-Key': config.appApiKey, 'content-type': 'application/json' };
  try {
    const users: { id: number; secret: Uint8Array }[] = [];
    await pool(
      Array.from({ length: USERS }, (_, i) => i),
      8,
      async (i) => {
        const phone = `20155${String(10000 + i).slice(-5)}`;
        const reg = await fetch(`${url}/protected/json/users/new`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ user: { email: `bench${i}@example.com`, cellphone: phone, country_code: '1' } }),
        }).then((r) => r.json() as Promise<{ user?: { id: number } }>);
        if (!reg.user) throw new Error(`register failed for ${phone}`);
        const s = await fetch(`${url}/protected/json/users/${reg.user.id}/secret`, { method: 'POST', headers }).then((r) => r.json() as Promise<{ uri: string }>);
        users.push({ id: reg.user.id, secret: base32Decode(new URL(s.uri).searchParams.get('secret')!) });
      },
    );

    let ok = 0;
    const t0 = performance.now();
    await pool(users, CONCURRENCY, async (u) => {
      const code = generateTotp(u.secret, Date.now());
      const r = await fetch(`${url}/protected/json/verify/${code}/${u.id}`, { headers });
      await r.arrayBuffer();
      if (r.status === 200) ok++;
    });
    const validSeconds = (performance.now() - t0) / 1000;

    const wrong = users.flatMap((u) => Array.from({ length: WRONG }, () => u));
    let refused = 0;
    const t1 = performance.now();
    await pool(wrong, CONCURRENCY, async (u) => {
      const r = await fetch(`${url}/protected/json/verify/000000/${u.id}`, { headers });
      await r.arrayBuffer();
      if (r.status === 401) refused++;
    });
    const wrongSeconds = (performance.now() - t1) / 1000;

    console.log(`database: ${system.platform.db.kind}, users: ${USERS}, concurrency: ${CONCURRENCY}`);
    console.log(`valid TOTP verifications: ${ok}/${users.length} accepted, ${(users.length / validSeconds).toFixed(0)} verifications/s`);
    console.log(`wrong TOTP verifications: ${refused}/${wrong.length} refused, ${(wrong.length / wrongSeconds).toFixed(0)} verifications/s`);
  } finally {
    await stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
