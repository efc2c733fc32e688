import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A layer-4 proxy on 127.0.0.1: each new connection goes to the next target in turn (a round-robin
 * load balancer in front of several instances), or to the one target (a link to PostgreSQL or
 * Redis that a test can cut). `cut()` drops every open connection and refuses new ones, as a
 * server that went away would; `restore()` accepts again.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private next = 0;
  private down = false;
  port = 0;

  constructor(public targets: { host: string; port: number }[] = []) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(port = 0): Promise<number> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as { port: number }).port;
    return this.port;
  }

  private accept(client: Socket): void {
    if (this.down || this.targets.length === 0) {
      client.destroy();
      return;
    }
    const target = this.targets[this.next++ % this.targets.length]!;
    const upstream = connect(target.port, target.host);
    this.sockets.add(client);
    this.sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Drop every connection now and refuse new ones until `restore()`. */
  cut(): void {
    this.down = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  restore(): void {
    this.down = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/** `http://127.0.0.1:1234` → `{ host, port }`. */
export function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}
