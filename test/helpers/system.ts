import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import webpush from 'web-push';
import type { Clock } from '../../src/platform/clock.js';
import { loadConfig } from '../../src/platform/config.js';
import type { DatabaseKind } from '../../src/platform/db.js';
import { createLogger } from '../../src/platform/logger.js';
import { createSystem, type Part, type System } from '../../src/system.js';
import { freshSchema, pgUrl } from './databases.js';

export interface TestSystem {
  system: System;
  url: string;
  dataDir: string;
  /** Every log line written so far (JSON strings). */
  logs: string[];
  /** The built-in app's API key. */
  apiKey: string;
  stop(): Promise<void>;
}

export interface TestSystemOptions {
  db?: DatabaseKind;
  env?: Record<string, string>;
  clock?: Clock;
  only?: Part;
  /** Reuse a data dir / schema (restart tests). */
  dataDir?: string;
  pgSchema?: string;
  /** Listen port (default: any free one). */
  port?: number;
  /** Runs after the system is built, right before it listens (to release a held port). */
  beforeListen?: () => Promise<void>;
  /** Called with every SQL statement run. */
  onQuery?: (sql: string) => void;
}

/** The secrets production refuses to start without (it never generates them), fresh each time. */
export function productionSecrets(): Record<string, string> {
  const vapid = webpush.generateVAPIDKeys();
  return { ENCRYPTION_KEY: randomBytes(32).toString('base64'), VERIFY_API_KEY: randomBytes(24).toString('base64url'), VAPID_PUBLIC_KEY: vapid.publicKey, VAPID_PRIVATE_KEY: vapid.privateKey };
}

/** Start the whole system on a free port with a fresh database and data dir. */
export async function startTestSystem(o: TestSystemOptions = {}): Promise<TestSystem & { pgSchema: string | undefined }> {
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), 'twofold-test-'));
  const kind = o.db ?? 'sqlite';
  const pgSchema = kind === 'postgres' ? (o.pgSchema ?? freshSchema()) : undefined;
  const config = loadConfig({
    NODE_ENV: 'test',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    // Every signup texts a phone code, and tests sign up (and type codes for) many people from
    // 127.0.0.1; the suites about the per-IP caps set their own values.
    SMS_PER_IP_LIMIT: '1000',
    CODE_PER_IP_LIMIT: '1000',
    MAIL_PER_IP_LIMIT: '1000',
    LINK_PER_IP_LIMIT: '1000',
    // The app reaches the service in its process directly by default; CI runs the app's suites
    // again with TEST_SERVICE_BINDING=http, the loopback HTTP binding a split deployment uses.
    ...(process.env['TEST_SERVICE_BINDING'] ? { SERVICE_BINDING: process.env['TEST_SERVICE_BINDING'] } : {}),
    ...(kind === 'postgres' ? { DATABASE_URL: pgUrl() } : {}),
    // Production refuses to start without a named database and an encryption key: a test in
    // production names its SQLite file and brings a key, as a single-host operator would.
    ...(o.env?.['NODE_ENV'] === 'production' ? { ...productionSecrets(), ...(kind === 'sqlite' ? { DATABASE_URL: `sqlite:${join(dataDir, 'twofold.sqlite')}` } : {}) } : {}),
    ...o.env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  const logger = createLogger(config.LOG_LEVEL, sink);
  const system = await createSystem({ config, logger, ...(o.clock ? { clock: o.clock } : {}), ...(o.only ? { only: o.only } : {}), ...(pgSchema ? { pgSchema } : {}), ...(o.onQuery ? { onQuery: o.onQuery } : {}) });
  await o.beforeListen?.();
  const url = await system.listen(o.port ?? 0, '127.0.0.1');
  return {
    system,
    url,
    dataDir,
    logs,
    apiKey: config.appApiKey,
    pgSchema,
    async stop() {
      await system.stop();
      if (!o.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
