import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import pg from 'pg';

/**
 * Cross-instance notifications (an approval recorded by one instance, a browser waiting on
 * another). Payloads are small JSON objects and never carry secrets: receivers re-read state
 * from the database. Delivery is best-effort; the database stays the source of truth.
 */
export interface EventBus {
  publish(channel: string, payload: Record<string, unknown>): Promise<void>;
  /** Returns an unsubscribe function. */
  subscribe(channel: string, handler: (payload: Record<string, unknown>) => void): () => void;
  close(): Promise<void>;
}

const CHANNEL = /^[a-z][a-z0-9_.:-]{0,60}$/;

export class MemoryEventBus implements EventBus {
  protected readonly emitter = new EventEmitter();
  constructor() {
    this.emitter.setMaxListeners(0);
  }
  async publish(channel: string, payload: Record<string, unknown>): Promise<void> {
    this.deliver(channel, payload);
  }
  protected deliver(channel: string, payload: Record<string, unknown>): void {
    this.emitter.emit(channel, payload);
  }
  subscribe(channel: string, handler: (payload: Record<string, unknown>) => void): () => void {
    if (!CHANNEL.test(channel)) throw new Error(`invalid channel ${channel}`);
    this.emitter.on(channel, handler);
    return () => this.emitter.off(channel, handler);
  }
  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

/** PostgreSQL LISTEN/NOTIFY on one channel, fanned out locally by event name. */
export class PgEventBus extends MemoryEventBus {
  private readonly pgChannel: string;
  private listener: pg.Client | undefined;
  private ready: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly connectionString: string,
    namespace = 'twofold_events',
  ) {
    super();
    this.pgChannel = namespace;
  }

  start(): Promise<void> {
    this.ready ??= this.connect();
    return this.ready;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString });
    client.on('error', () => {
      // Reconnect after a dropped connection; notifications in the gap are lost, which the
      // design allows (receivers re-read the database).
      this.listener = undefined;
      this.ready = undefined;
      if (!this.closed) setTimeout(() => void this.start().catch(() => {}), 1000).unref();
    });
    client.on('notification', (msg) => {
      if (msg.channel !== this.pgChannel || !msg.payload) return;
      try {
        const { c, p } = JSON.parse(msg.payload) as { c: string; p: Record<string, unknown> };
        this.deliver(c, p);
      } catch {
        /* ignore malformed */
      }
    });
    await client.connect();
    await client.query(`LISTEN ${this.pgChannel}`);
    this.listener = client;
  }

  override async publish(channel: string, payload: Record<string, unknown>): Promise<void> {
    await this.pool.query('SELECT pg_notify($1, $2)', [this.pgChannel, JSON.stringify({ c: channel, p: payload })]);
  }

  override async close(): Promise<void> {
    this.closed = true;
    await super.close();
    await this.listener?.end().catch(() => {});
  }
}

/** Redis pub/sub, used when REDIS_URL is set. */
export class RedisEventBus extends MemoryEventBus {
  private readonly pub: Redis;
  private readonly sub: Redis;
  constructor(url: string, private readonly redisChannel = 'twofold:events') {
    super();
    this.pub = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2 });
    this.sub = new Redis(url, { lazyConnect: false });
    this.pub.on('error', () => {});
    this.sub.on('error', () => {});
    this.sub.on('message', (ch: string, raw: string) => {
      if (ch !== this.redisChannel) return;
      try {
        const { c, p } = JSON.parse(raw) as { c: string; p: Record<string, unknown> };
        this.deliver(c, p);
      } catch {
        /* ignore malformed */
      }
    });
  }
  async start(): Promise<void> {
    await this.sub.subscribe(this.redisChannel);
  }
  override async publish(channel: string, payload: Record<string, unknown>): Promise<void> {
    await this.pub.publish(this.redisChannel, JSON.stringify({ c: channel, p: payload }));
  }
  override async close(): Promise<void> {
    await super.close();
    this.pub.disconnect();
    this.sub.disconnect();
  }
}
