import { mkdirSync } from 'node:fs';
import { appendFile, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * A development outbox: messages appended to a JSON-lines file in DATA_DIR, never to the
 * database (a database dump must not hold codes or links). One `appendFile` per message writes one
 * whole line with O_APPEND; the file is the owner's only (0600).
 */
export class OutboxFile<T extends { to: string }> {
  constructor(readonly file: string) {
    mkdirSync(dirname(file), { recursive: true });
  }

  async append(entry: T): Promise<void> {
    await appendFile(this.file, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
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
