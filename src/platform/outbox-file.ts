import { mkdirSync } from 'node:fs';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * A development outbox: messages appended to a JSON-lines file in DATA_DIR, never to the
 * database (a database dump must not hold codes or links). One write per message puts one whole
 * line with O_APPEND; the file is the owner's only (0600).
 *
 * The file stays open while messages come (a burst of logins each sends a notice: opening and
 * closing it for each was a sixth of a login's CPU) and is closed after IDLE_CLOSE_MS without one,
 * so a file moved or deleted meanwhile is opened anew on the next message.
 */
const IDLE_CLOSE_MS = 2000;

export class OutboxFile<T extends { to: string }> {
  private handle: Promise<FileHandle> | undefined;
  private idle: NodeJS.Timeout | undefined;
  /** Writes in order, one after the other: lines never interleave. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly file: string,
    private readonly idleCloseMs = IDLE_CLOSE_MS,
  ) {
    mkdirSync(dirname(file), { recursive: true });
  }

  append(entry: T): Promise<void> {
    const line = `${JSON.stringify(entry)}\n`;
    const write = this.queue.then(async () => {
      this.handle ??= open(this.file, 'a', 0o600);
      try {
        // appendFile writes the whole line (write() may write part of it, on a full disk).
        await (await this.handle).appendFile(line);
      } catch (e) {
        await this.close();
        throw e;
      }
      this.closeWhenIdle();
    });
    this.queue = write.catch(() => undefined);
    return write;
  }

  private closeWhenIdle(): void {
    clearTimeout(this.idle);
    this.idle = setTimeout(() => void this.queue.then(() => this.close()), this.idleCloseMs);
    this.idle.unref();
  }

  private async close(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    clearTimeout(this.idle);
    await h?.then((f) => f.close()).catch(() => undefined);
  }

  /** Newest first, at most `limit` (100), optionally only those sent to `to`. */
  async list(o: { to?: string; limit?: number } = {}): Promise<T[]> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: T[] = [];
    const lines = text.split('\n');
    for (let i = lines.length - 1; i >= 0 && out.length < (o.limit ?? 100); i--) {
      const line = lines[i];
      if (!line) continue;
      try {
        const m = JSON.parse(line) as T;
        if (o.to === undefined || m.to === o.to) out.push(m);
      } catch {
        // A torn last line (crash mid-write) is skipped, not fatal.
      }
    }
    return out;
  }
}
