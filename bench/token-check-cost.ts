/**
 * Where a token check's time goes on SQLite, without HTTP: the service's own work for
 * `GET /protected/json/verify/{token}/{id}` (find the user, then `TokenVerifier.verify`: lockout
 * claim, TOTP candidates, the step spent, the counter cleared, the audit event), CHECKS times with
 * 10 in flight, in this process on the embedded default's SQLite settings.
 *
 * Prints the CPU per check, the wall time better-sqlite3 spends in each statement (COMMIT apart)
 * and how many WAL frames (4 KiB pages) each check writes: the figures behind README
 * "Performance" → "What the rest would take".
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import webpush from 'web-push';
import { forContext } from '../src/platform/context.js';
import { loadConfig } from '../src/platform/config.js';
import { createLogger } from '../src/platform/logger.js';
import { createSystem } from '../src/system.js';
import { AppStore } from '../src/verify/core/apps.js';
import { SecondFactorLockout } from '../src/verify/core/lockout.js';
import { parsePhone } from '../src/verify/core/phone.js';
import { SmsCodes } from '../src/verify/core/sms-codes.js';
import { base32Decode, generateTotp } from '../src/verify/core/totp.js';
import { TotpSecrets } from '../src/verify/core/totp-secrets.js';
import { UserStore } from '../src/verify/core/users.js';
import { TokenVerifier } from '../src/verify/core/verification.js';
import type { VerifyTables } from '../src/verify/schema.js';
import { suite } from './lib.js';

const CHECKS = Number(process.env['BENCH_TOKEN_CHECKS'] ?? 16_000);
const IN_FLIGHT = 10;
const FRAME_CHECKS = 1000;

async function inFlight<T>(items: T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

/**
 * Wall time per statement text, taken around better-sqlite3's run/all/get until `stop()` puts
 * them back (each run of the suite times its own statements, not through the wrappers of the
 * runs before it).
 */
function timeStatements(sqlite: { prepare(sql: string): object }): { times: Map<string, { calls: number; ns: bigint }>; stop(): void } {
  const times = new Map<string, { calls: number; ns: bigint }>();
  const proto = Object.getPrototypeOf(sqlite.prepare('select 1')) as Record<string, (...a: unknown[]) => unknown>;
  const originals = new Map<string, (...a: unknown[]) => unknown>();
  for (const m of ['run', 'all', 'get']) {
    const original = proto[m]!;
    originals.set(m, original);
    proto[m] = function (this: { source: string }, ...args: unknown[]) {
      const t = process.hrtime.bigint();
      try {
        return original.apply(this, args);
      } finally {
        const key = this.source.trim().toLowerCase() === 'commit' ? 'commit' : 'other statements';
        const e = times.get(key) ?? { calls: 0, ns: 0n };
        times.set(key, { calls: e.calls + 1, ns: e.ns + process.hrtime.bigint() - t });
      }
    };
  }
  return {
    times,
    stop() {
      for (const [m, original] of originals) proto[m] = original;
    },
  };
}

async function once(): Promise<{ cpu: number; commit: number; other: number; frames: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'twofold-token-check-'));
  const vapid = webpush.generateVAPIDKeys();
  const config = loadConfig({
    NODE_ENV: 'production',
    LOG_LEVEL: 'error',
    DATA_DIR: dataDir,
    DATABASE_URL: `sqlite:${join(dataDir, 'twofold.sqlite')}`,
    ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    VERIFY_API_KEY: randomBytes(24).toString('base64url'),
    VAPID_PUBLIC_KEY: vapid.publicKey,
    VAPID_PRIVATE_KEY: vapid.privateKey,
  });
  const system = await createSystem({ config, logger: createLogger('error') });
  try {
    const core = forContext<VerifyTables>(system.platform);
    const { clock, codeHasher } = system.platform;
    const users = new UserStore(core.db.db, clock);
    const totp = new TotpSecrets(core);
    const lockout = new SecondFactorLockout(core.db.db, { threshold: config.OTP_LOCKOUT_THRESHOLD, lockSeconds: config.OTP_LOCKOUT_SECONDS });
    const verifier = new TokenVerifier(core, totp, new SmsCodes(core.db.db, codeHasher, config.OTP_MAX_ATTEMPTS), lockout);
    await new AppStore(core.db.db, clock).ensureBuiltin({ name: 'bench', apiKey: config.appApiKey, callbackUrl: 'http://127.0.0.1:9/authy/callback' });
    const appId = (await new AppStore(core.db.db, clock).list()).find((a) => a.builtin)!.id;

    // Each check its own (user, time step): two steps per user, as the HTTP bench does.
    const checks: { id: number; code: string }[] = [];
    const now = Date.now();
    for (let i = 0; i < CHECKS / 2; i++) {
      const id = await users.register(appId, `bench${i}@example.com`, parsePhone(`201${200 + Math.floor(i / 10_000)}${String(i % 10_000).padStart(4, '0')}`, '1')!);
      const secret = await totp.createForApp(id, undefined, {});
      await totp.confirmApp(id, secret.id, {});
      const key = base32Decode(secret.parameters.secret);
      checks.push({ id, code: generateTotp(key, now) }, { id, code: generateTotp(key, now + 30_000) });
    }
    const meta = { ip: '127.0.0.1', userAgent: 'bench' };
    const check = async (c: { id: number; code: string }) => {
      const user = await users.find(appId, c.id);
      const r = await verifier.verify(user!, c.code, meta);
      if (!r.ok) throw new Error(`token check refused: ${r.reason}`);
    };
    const warm = checks.splice(0, Math.floor(checks.length / 5));
    for (const c of warm) await check(c);

    const raw = core.db.raw;
    if (raw.kind !== 'sqlite') throw new Error('the token-check bench measures SQLite');
    const sqlite = raw.sqlite;
    // The last FRAME_CHECKS run apart, with automatic checkpoints off, to count the WAL frames.
    const framed = checks.splice(checks.length - FRAME_CHECKS);
    const timing = timeStatements(sqlite);
    const cpu0 = process.cpuUsage();
    await inFlight(checks, check);
    const cpu = process.cpuUsage(cpu0);
    timing.stop();
    const measured = timing.times;
    sqlite.pragma('wal_checkpoint(TRUNCATE)');
    sqlite.pragma('wal_autocheckpoint = 0');
    await inFlight(framed, check);
    const [wal] = sqlite.pragma('wal_checkpoint(PASSIVE)') as { log: number }[];
    const perCheck = (ns: bigint | undefined) => Number(ns ?? 0n) / 1000 / checks.length;
    return {
      cpu: (cpu.user + cpu.system) / checks.length,
      commit: perCheck(measured.get('commit')?.ns),
      other: perCheck(measured.get('other statements')?.ns),
      frames: (wal?.log ?? 0) / framed.length,
    };
  } finally {
    await system.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await suite('token-check-cost', async () => {
  const r = await once();
  return [
    { name: 'token_check_cpu', unit: 'µs/check', value: r.cpu },
    { name: 'token_check_commit_wall', unit: 'µs/check', value: r.commit },
    { name: 'token_check_other_sql_wall', unit: 'µs/check', value: r.other },
    { name: 'token_check_wal_frames', unit: 'pages/check', value: r.frames },
  ];
});
