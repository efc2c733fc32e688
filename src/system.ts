import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Kysely } from 'kysely';
import { createWebApp, type WebApp } from './app/index.js';
import { staticRoutes } from './app/static.js';
import { AuditLog } from './platform/audit.js';
import { systemClock, type Clock } from './platform/clock.js';
import type { Config } from './platform/config.js';
import { cryptoFor, type Platform } from './platform/context.js';
import { ensurePgSchema, openDatabase, ping, withTables, type Db } from './platform/db.js';
import { MemoryEventBus, PgEventBus, RedisEventBus, type EventBus } from './platform/events.js';
import { accessLog, trustProxySetting, type EarlyHandler } from './platform/http.js';
import { createLogger, type Logger } from './platform/logger.js';
import { migrations, type SystemDatabase } from './migrations.js';
import { migrateToLatest } from './platform/migrations/index.js';
import { LimiterFactory } from './platform/rate-limit.js';
import { MailOutbox, openMailer } from './platform/mail/index.js';
import { devMailRoutes } from './platform/mail/dev-routes.js';
import { createVerifyService, type VerifyService } from './verify/index.js';

export type Part = 'all' | 'verify' | 'app';

/** A readiness check that has not answered in this long counts as failed. */
const READY_CHECK_MS = 2000;

function within(ms: number, check: Promise<boolean>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
  return Promise.race([check.catch(() => false), timeout]).finally(() => clearTimeout(timer));
}

export interface SystemOptions {
  config: Config;
  logger?: Logger;
  clock?: Clock;
  /** Which parts this process serves (`twofold serve --only`). */
  only?: Part;
  /** PostgreSQL schema (tests isolate themselves with one). */
  pgSchema?: string;
  /** Called with every SQL statement run (the statement-count bench and tests). */
  onQuery?: (sql: string) => void;
}

export interface System {
  /** The database with every context's tables, for tools and tests: the contexts see only their own. */
  db: Kysely<SystemDatabase>;
  app: express.Express;
  platform: Platform;
  verify: VerifyService | undefined;
  web: WebApp | undefined;
  /**
   * Listen on `port` (0 = any free port) at `host`, or at the configured hosts
   * (`config.listenHosts`); resolves with the base URL.
   */
  listen(port?: number, host?: string): Promise<string>;
  /** The addresses listened on (`host:port`). */
  addresses(): string[];
  url(): string;
  stop(): Promise<void>;
}

export async function openPlatform(options: SystemOptions): Promise<Platform> {
  const { config } = options;
  const logger = options.logger ?? createLogger(config.LOG_LEVEL);
  if (config.DATABASE_URL && options.pgSchema) await ensurePgSchema(config.DATABASE_URL, options.pgSchema);
  const db: Db = openDatabase({
    databaseUrl: config.DATABASE_URL,
    sqliteFile: config.sqliteFile,
    pgPoolSize: config.DATABASE_POOL_SIZE,
    ...(options.pgSchema ? { pgSchema: options.pgSchema } : {}),
    onQuery: options.onQuery,
  });
  const applied = await migrateToLatest(db, migrations, (facts, message) => logger.info(facts, message));
  if (applied.length) logger.info({ migrations: applied }, 'migrations applied');
  let bus: EventBus;
  if (config.REDIS_URL) {
    bus = await RedisEventBus.connect(config.REDIS_URL, `${config.REDIS_KEY_PREFIX}:events`);
  } else if (db.raw.kind === 'postgres' && config.DATABASE_URL) {
    const p = new PgEventBus(db.raw.pool, db.raw.connect, `twofold_events_${options.pgSchema ?? 'main'}`);
    await p.start();
    bus = p;
  } else {
    bus = new MemoryEventBus();
  }
  const limits = await LimiterFactory.open(db, config.REDIS_URL, config.REDIS_KEY_PREFIX);
  const clock = options.clock ?? systemClock;
  return { config, db, logger, clock, bus, limits, audit: new AuditLog(db.db, clock), mail: openMailer(config, logger, clock), ...cryptoFor(config) };
}

export async function createSystem(options: SystemOptions): Promise<System> {
  const only = options.only ?? 'all';
  const platform = await openPlatform(options);
  const { config, logger } = platform;
  for (const name of config.generatedSecrets) {
    logger.warn({ variable: name, dir: config.DATA_DIR }, `${name} was generated into DATA_DIR; production must set it in the environment`);
  }

  let baseUrl = '';
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', trustProxySetting(config.TRUST_PROXY));
  app.set('query parser', 'extended');
  // Every answer is an API answer or a fresh page: no conditional requests, no body hashed for an ETag.
  app.set('etag', false);
  app.use(accessLog(logger));
  const responseHeaders = (res: ServerResponse) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    // Production runs behind https: browsers then refuse plain http to this host for a year.
    if (config.production) res.setHeader('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
  };
  app.use((_req, res, next) => {
    responseHeaders(res);
    next();
  });
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Ready = able to take new work: the database answers, Redis too when configured, and events
  // from other instances can arrive. A load balancer stops sending work while this is 503, and
  // the instance comes back by itself (the pool and the event bus reconnect).
  app.get('/readyz', async (_req, res) => {
    const [database, redis] = await Promise.all([
      within(READY_CHECK_MS, ping(platform.db.db)),
      config.REDIS_URL ? within(READY_CHECK_MS, platform.limits.ping()) : Promise.resolve(undefined),
    ]);
    const checks: Record<string, string> = { database: database ? 'ok' : 'unreachable' };
    if (redis !== undefined) checks['redis'] = redis ? 'ok' : 'unreachable';
    checks['events'] = platform.bus.healthy() ? 'ok' : 'reconnecting';
    const ready = Object.values(checks).every((v) => v === 'ok');
    res.setHeader('Cache-Control', 'no-store');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', checks });
  });

  const verify = only === 'app' ? undefined : createVerifyService(platform, { responseHeaders });
  const web =
    only === 'verify'
      ? undefined
      : createWebApp(platform, {
          verifyBaseUrl: () => config.VERIFY_URL ?? baseUrl,
          apiKey: config.appApiKey,
          // One process: the app calls the service's operations directly (same checks, no socket).
          transport: verify && !config.VERIFY_URL && config.SERVICE_BINDING === 'in-process' ? verify.exchange : undefined,
          responseHeaders,
        });
  const mailbox = platform.mail.transport;
  if (mailbox instanceof MailOutbox) {
    // Fail closed: the outbox page shows every link sent, so a production process never serves it.
    if (config.production) logger.warn({ file: mailbox.file }, 'MAIL_TRANSPORT=outbox in production: mail is only written to a file (no /dev/mail pages); set smtp');
    else app.use(devMailRoutes(mailbox, () => config.PUBLIC_URL));
  }
  if (verify) app.use(verify.router);
  if (web) app.use(web.router);
  // Apart from the web app, the service still serves the authenticator PWA: it must share the
  // device API's origin (activation links point here).
  else app.use(staticRoutes(logger, undefined, { authenticatorOnly: true }));
  app.use((_req, res) => {
    res.status(404).json({ code: 'NOT_FOUND', message: 'Not found' });
  });

  const servers: Server[] = [];
  const earlyHandlers: EarlyHandler[] = [...(web ? [web.tryServeStatusStream] : []), ...(verify ? [verify.tryServeApi] : [])];
  return {
    db: withTables<SystemDatabase>(platform.db).db,
    app,
    platform,
    verify,
    web,
    async listen(port = config.PORT, host?: string) {
      const hosts = host !== undefined ? [host] : config.listenHosts;
      const bind = (p: number, h: string) =>
        new Promise<Server>((resolve, reject) => {
          // Slow clients: the headers must arrive within HEADERS_TIMEOUT_SECONDS and the whole
          // request within REQUEST_TIMEOUT_SECONDS (a streamed answer is not bound by it), checked
          // every second instead of Node's 30.
          const s = createServer(
            {
              headersTimeout: config.HEADERS_TIMEOUT_SECONDS * 1000,
              requestTimeout: Math.max(config.REQUEST_TIMEOUT_SECONDS, config.HEADERS_TIMEOUT_SECONDS) * 1000,
              connectionsCheckingInterval: 1000,
            },
            // Waiting browsers' status streams and the Authy API's GETs are answered before Express.
            (req, res) => {
              for (const early of earlyHandlers) if (early(req, res, app)) return;
              app(req, res);
            },
          );
          s.once('error', reject);
          s.listen(p, h, () => {
            s.off('error', reject);
            resolve(s);
          });
        });
      const first = await bind(port, hosts[0]!);
      servers.push(first);
      const boundPort = (first.address() as AddressInfo).port;
      for (const h of hosts.slice(1)) {
        // The same port on the other loopback; a machine without IPv6 simply has no ::1.
        try {
          servers.push(await bind(boundPort, h));
        } catch (err) {
          platform.logger.warn({ host: h, err: String(err) }, 'not listening on this address');
        }
      }
      for (const s of servers) {
        s.keepAliveTimeout = 5000;
        // A connection on which nothing moves for this long is closed: a client that asks and then
        // never reads (a stalled answer holds its buffers and any open file). Streams write a
        // ping every 20 s, so they stay.
        s.timeout = config.IDLE_TIMEOUT_SECONDS * 1000;
      }
      const h = hosts.length > 1 || hosts[0] === '0.0.0.0' || hosts[0] === '::' ? 'localhost' : hosts[0]!;
      baseUrl = `http://${h.includes(':') ? `[${h}]` : h}:${boundPort}`;
      // Without an explicit PUBLIC_URL, links and the built-in callback point at where we listen.
      if (!config.publicUrlExplicit) config.PUBLIC_URL = baseUrl;
      await verify?.start(baseUrl);
      await web?.start(baseUrl);
      return baseUrl;
    },
    url: () => baseUrl,
    addresses: () =>
      servers.map((s) => {
        const a = s.address() as AddressInfo;
        return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
      }),
    async stop() {
      await web?.stop();
      await verify?.stop();
      for (const server of servers.splice(0)) {
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
      }
      platform.mail.stop();
      await platform.bus.close();
      await platform.limits.close();
      await platform.db.close();
    },
  };
}
