/**
 * Several `twofold serve --only app|verify` processes on one PostgreSQL database (and one Redis
 * when asked), behind two round-robin load balancers, as README "Running several instances"
 * describes. Every instance reaches PostgreSQL (and Redis) through a link the test can cut.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Browser, outboxFileCode, outboxFileSignupToken, signUp } from '../app/helpers.js';
import { freePort, freshPgDatabase, killChild, serveChild, type ChildServer } from '../helpers/child-server.js';
import { hostPort, TcpProxy } from '../helpers/tcp-proxy.js';

export type Part = 'app' | 'verify';

export interface Instance {
  name: string;
  part: Part;
  port: number;
  url: string;
  server: ChildServer;
  dataDir: string;
}

export interface ClusterOptions {
  apps: number;
  verifies: number;
  /** Use the local Redis for counters and events (a fresh key prefix). */
  redis?: boolean;
  /** Extra environment for every instance. */
  env?: Record<string, string>;
}

/** The secrets every instance must share (set in the environment, never generated per instance). */
export function sharedSecrets(): Record<string, string> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  const pub = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  return {
    ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    VERIFY_API_KEY: randomBytes(24).toString('base64url'),
    VAPID_PRIVATE_KEY: jwk.d!,
    VAPID_PUBLIC_KEY: pub.toString('base64url'),
  };
}

export class Cluster {
  readonly apps: Instance[] = [];
  readonly verifies: Instance[] = [];
  readonly appLb = new TcpProxy();
  readonly verifyLb = new TcpProxy();
  /** Every instance's connection to PostgreSQL goes through this link. */
  readonly pgLink: TcpProxy;
  readonly redisLink: TcpProxy | undefined;
  /** Direct (not through the link) connection for the test's own queries. */
  readonly pool: pg.Pool;
  readonly secrets = sharedSecrets();
  private readonly dirs: string[] = [];

  private constructor(
    readonly options: ClusterOptions,
    readonly dbUrl: string,
    private readonly dropDb: () => Promise<void>,
  ) {
    const u = new URL(dbUrl);
    this.pgLink = new TcpProxy([{ host: u.hostname, port: Number(u.port || 5432) }]);
    this.redisLink = options.redis ? new TcpProxy([{ host: '127.0.0.1', port: 6379 }]) : undefined;
    this.pool = new pg.Pool({ connectionString: dbUrl, max: 3 });
    this.pool.on('error', () => {});
  }

  /** A fresh database; every instance started at the same moment (they migrate it together). */
  static async start(options: ClusterOptions): Promise<Cluster> {
    const db = await freshPgDatabase('tf_scale');
    const c = new Cluster(options, db.url, db.drop);
    await Promise.all([c.appLb.listen(), c.verifyLb.listen(), c.pgLink.listen(), c.redisLink?.listen()]);
    const parts: Part[] = [...Array<Part>(options.verifies).fill('verify'), ...Array<Part>(options.apps).fill('app')];
    const ports = await Promise.all(parts.map(() => freePort()));
    try {
      const started = await Promise.all(parts.map((part, i) => c.spawn(part, ports[i]!, part === 'verify' ? i + 1 : i - options.verifies + 1)));
      for (const inst of started) (inst.part === 'app' ? c.apps : c.verifies).push(inst);
    } catch (e) {
      await c.stop();
      throw e;
    }
    c.balance();
    return c;
  }

  /** The database URL the instances use: through the link. */
  get linkedDbUrl(): string {
    const u = new URL(this.dbUrl);
    u.hostname = '127.0.0.1';
    u.port = String(this.pgLink.port);
    return u.toString();
  }

  env(part: Part): Record<string, string> {
    return {
      ...this.secrets,
      DATABASE_URL: this.linkedDbUrl,
      DATABASE_POOL_SIZE: '4',
      APP_URL: this.appLb.url,
      PUBLIC_URL: part === 'app' ? this.appLb.url : this.verifyLb.url,
      ...(part === 'app' ? { VERIFY_URL: this.verifyLb.url } : {}),
      ...(this.redisLink ? { REDIS_URL: `redis://127.0.0.1:${this.redisLink.port}`, REDIS_KEY_PREFIX: `tf_scale_${this.secrets.VERIFY_API_KEY!.slice(0, 8).replace(/[^A-Za-z0-9]/g, 'x')}` } : {}),
      ...this.options.env,
    };
  }

  private async spawn(part: Part, port: number, n: number): Promise<Instance> {
    const dataDir = mkdtempSync(join(tmpdir(), `twofold-scale-${part}${n}-`));
    this.dirs.push(dataDir);
    const server = await serveChild({ ...this.env(part), DATA_DIR: dataDir, PORT: String(port) }, ['--only', part]);
    return { name: `${part}${n}`, part, port, url: server.url, server, dataDir };
  }

  /** Point the load balancers at the instances that are up. */
  balance(): void {
    this.appLb.targets = this.apps.filter((i) => i.server.child.exitCode === null && i.server.child.signalCode === null).map((i) => hostPort(i.url));
    this.verifyLb.targets = this.verifies.filter((i) => i.server.child.exitCode === null && i.server.child.signalCode === null).map((i) => hostPort(i.url));
  }

  /** SIGKILL one instance (a crash): the balancers stop sending to it. */
  async kill(inst: Instance): Promise<void> {
    await killChild(inst.server);
    this.balance();
  }

  /** Start a killed instance again on its port. */
  async restart(inst: Instance): Promise<void> {
    inst.server = await serveChild({ ...this.env(inst.part), DATA_DIR: inst.dataDir, PORT: String(inst.port) }, ['--only', inst.part]);
    this.balance();
  }

  /**
   * Sign up through `b` as a person would; the phone code is read from the outboxes of every
   * service instance (each keeps its own file), newest first.
   */
  signUp(b: Browser, u: Record<string, unknown>, o: { expectStatus?: number } = {}) {
    return signUp(b, u, {
      ...o,
      code: async (to) => outboxFileCode(this.verifies.map((i) => i.dataDir), to ?? ''),
      // A link mailed while the database was away goes out when it is back (up to a minute).
      emailToken: (email) => outboxFileSignupToken(this.apps.map((i) => i.dataDir), email, 60_000),
    });
  }

  /** A browser of the site (its Origin is the app balancer's) sending to instance `at`. */
  browser(at: Instance): Browser {
    const b = new Browser(at.url);
    b.origin = this.appLb.url;
    return b;
  }

  get all(): Instance[] {
    return [...this.verifies, ...this.apps];
  }

  async query<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
    return (await this.pool.query<T>(text, values)).rows;
  }

  async stop(): Promise<void> {
    await Promise.all(this.all.map((i) => killChild(i.server)));
    await Promise.all([this.appLb.close(), this.verifyLb.close(), this.pgLink.close(), this.redisLink?.close()]);
    await this.pool.end().catch(() => {});
    await this.dropDb().catch(() => {});
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }
}

/** GET /readyz of one instance: its status code and checks (0 when it does not answer). */
export async function readiness(url: string): Promise<{ status: number; checks: Record<string, string> }> {
  try {
    const r = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5000) });
    const body = (await r.json()) as { checks?: Record<string, string> };
    return { status: r.status, checks: body.checks ?? {} };
  } catch {
    return { status: 0, checks: {} };
  }
}
