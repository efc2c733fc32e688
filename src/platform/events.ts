import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type pg from 'pg';

/**
 * Cross-instance notifications (an approval recorded by one instance, a browser waiting on
 * another). Payloads are small JSON objects and never carry secrets: receivers re-read state
 * from the database. Delivery is best-effort; the database stays the source of truth.
 */
export interface EventBus {
  publish(channel: string, payload: Record<string, unknown>): Promise<void>;
  /** Returns an unsubscribe function. */
  subscribe(channel: string, handler: (payload: Record<string, unknown>) => void): () => void;
  /**
   * `handler` runs after the bus lost its connection and got it back: events published meanwhile
   * were missed, so whoever waits on one re-reads the database. Returns an unsubscribe function.
   */
  onResync(handler: () => void): () => void;
  /** False while events from other instances cannot arrive (connection lost). */
  healthy(): boolean;
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
  onResync(handler: () => void): () => void {
    this.emitter.on(RESYNC, handler);
    return () => this.emitter.off(RESYNC, handler);
  }
  protected resync(): void {
    this.emitter.emit(RESYNC);
  }
  healthy(): boolean {
    return true;
  }
  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

/** Local event name of a resync; not a valid channel name, so no publisher can forge it. */
const RESYNC = '#resync';

/**
 * PostgreSQL LISTEN/NOTIFY on one channel, fanned out locally by event name. The listening
 * connection is reconnected for as long as the bus is open (backing off to 2 s), and every
 * reconnect is followed by a resync.
 */
export class PgEventBus extends MemoryEventBus {
  private readonly pgChannel: string;
  private listener: pg.Client | undefined;
  private ready: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly connect: () => Promise<pg.Client>,
    namespace = 'twofold_events',
  ) {
    super();
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(namespace)) throw new Error(`invalid channel ${namespace}`);
    this.pgChannel = namespace;
  }

  /** Connect and LISTEN; rejects when the first connection fails (start-up must then fail). */
  start(): Promise<void> {
    this.ready ??= this.listen();
    return this.ready;
  }

  override healthy(): boolean {
    return this.listener !== undefined;
  }

  private async listen(): Promise<void> {
    const client = await this.connect();
    let lost = false;
    const onLost = () => {
      if (lost) return;
      lost = true;
      if (this.listener === client) this.listener = undefined;
      client.end().catch(() => {});
      if (!this.closed) this.reconnect(250);
    };
    client.on('notification', (msg) => {
      if (msg.channel !== this.pgChannel || !msg.payload) return;
      try {
        const { c, p } = JSON.parse(msg.payload) as { c: string; p: Record<string, unknown> };
        this.deliver(c, p);
      } catch {
        /* ignore malformed */
      }
    });
    try {
      await client.query(`LISTEN ${this.pgChannel}`);
    } catch (e) {
      lost = true;
      await client.end().catch(() => {});
      throw e;
    }
    client.on('error', onLost);
    client.on('end', onLost);
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.listener = client;
  }

  private reconnect(delayMs: number): void {
    setTimeout(() => {
      if (this.closed) return;
      this.listen().then(
        () => this.resync(),
        () => this.reconnect(Math.min(delayMs * 2, 2000)),
      );
    }, delayMs).unref();
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
  /** ioredis is loaded only when Redis is configured (it costs a process ~25 MB and 0.1 s). */
  static async connect(url: string, redisChannel = 'twofold:events'): Promise<RedisEventBus> {
    const { Redis } = await import('ioredis');
    const bus = new RedisEventBus(new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2 }), new Redis(url, { lazyConnect: false }), redisChannel);
    await bus.start();
    return bus;
  }

  private constructor(
    private readonly pub: Redis,
    private readonly sub: Redis,
    private readonly redisChannel: string,
  ) {
    super();
    this.pub.on('error', () => {});
    this.sub.on('error', () => {});
    // ioredis reconnects and subscribes again by itself; each "ready" after the first is a resync.
    let connectedBefore = false;
    this.sub.on('ready', () => {
      if (connectedBefore) this.resync();
      connectedBefore = true;
    });
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
  override healthy(): boolean {
    return this.sub.status === 'ready';
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
