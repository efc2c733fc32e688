import { appendFile, readFile } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Clock } from '../../../platform/clock.js';
import { randomToken } from '../../../platform/crypto.js';
import type { SmsMessage, SmsTransport } from './transport.js';

export interface OutboxMessage {
  id: string;
  to: string;
  body: string;
  /** ISO 8601. */
  created_at: string;
}

/**
 * The simulated phone of the embedded default: messages are appended to
 * `DATA_DIR/sms-outbox.jsonl`, never to the database (a database dump must not hold codes).
 * One `appendFile` per message writes one whole line with O_APPEND.
 */
export class OutboxTransport implements SmsTransport {
  readonly name = 'outbox';
  readonly file: string;

  constructor(
    dataDir: string,
    private readonly clock: Clock,
  ) {
    this.file = join(dataDir, 'sms-outbox.jsonl');
    mkdirSync(dirname(this.file), { recursive: true });
  }

  async send(m: SmsMessage): Promise<void> {
    const entry: OutboxMessage = { id: randomToken(9), to: m.to, body: m.body, created_at: new Date(this.clock.now()).toISOString() };
    await appendFile(this.file, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
  }

  /** Newest first, at most `limit`, optionally only those sent to `to`. */
  async list(o: { to?: string; limit?: number } = {}): Promise<OutboxMessage[]> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: OutboxMessage[] = [];
    const lines = text.split('\n');
    for (let i = lines.length - 1; i >= 0 && out.length < (o.limit ?? 100); i--) {
      const line = lines[i];
      if (!line) continue;
      try {
        const m = JSON.parse(line) as OutboxMessage;
        if (o.to === undefined || m.to === o.to) out.push(m);
      } catch {
        // A torn last line (crash mid-write) is skipped, not fatal.
      }
    }
    return out;
  }
}
