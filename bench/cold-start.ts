/**
 * Metric 6, cold start: from spawning `node bin/twofold.js serve` (embedded mode: everything in
 * one process, SQLite) to the first `GET /readyz` that answers 200, polled every POLL_MS.
 * First start: an empty DATA_DIR (migrations run). Restart: the same
 * DATA_DIR again. It times what production runs: the compiled build in dist/, made here once
 * before any clock starts (`npm run build:server`) and chosen with TWOFOLD_SOURCE=0, so a source
 * file edited meanwhile cannot switch the bench to timing tsx.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import webpush from 'web-push';
import { onStop, ROOT_DIR, sleep, suite } from './lib.js';

const POLL_MS = 5;
const RUNS = Math.max(5, Number(process.env['BENCH_RUNS'] ?? 3));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

execFileSync(process.execPath, [join(ROOT_DIR, 'scripts/build-server.js')], { cwd: ROOT_DIR, stdio: 'inherit' });

/** Production refuses to start without its secrets (it never generates them): one set for every cold start here. */
const COLD_START_VAPID = webpush.generateVAPIDKeys();
const COLD_START_SECRETS = {
  ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  VERIFY_API_KEY: randomBytes(24).toString('base64url'),
  VAPID_PUBLIC_KEY: COLD_START_VAPID.publicKey,
  VAPID_PRIVATE_KEY: COLD_START_VAPID.privateKey,
};

async function timeToReady(dataDir: string): Promise<number> {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(ROOT_DIR, 'bin/twofold.js'), 'serve'], {
    cwd: ROOT_DIR,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      LOG_LEVEL: 'error',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: dataDir,
      DATABASE_URL: `sqlite:${join(dataDir, 'twofold.sqlite')}`,
      ...COLD_START_SECRETS,
      TWOFOLD_SOURCE: '0',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const forget = onStop(() => {
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`twofold serve exited (${child.exitCode})`);
      if (performance.now() - t0 > 30_000) throw new Error('not ready in 30 s');
      try {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`);
        await res.arrayBuffer();
        if (res.status === 200) return performance.now() - t0;
      } catch {
        /* not listening yet */
      }
      await sleep(POLL_MS);
    }
  } finally {
    forget();
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  }
}

await suite(
  'cold-start',
  async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'twofold-bench-'));
    try {
      const first = await timeToReady(dataDir);
      const again = await timeToReady(dataDir);
      return [
        { name: 'cold_start_first', unit: 'ms', value: first },
        { name: 'cold_start_restart', unit: 'ms', value: again },
      ];
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
  RUNS,
);
