import { join } from 'node:path';
import type { Clock } from '../../../platform/clock.js';
import { randomToken } from '../../../platform/crypto.js';
import { OutboxFile } from '../../../platform/outbox-file.js';
import type { SmsMessage, SmsTransport } from './transport.js';

export interface OutboxMessage {
  id: string;
  to: string;
  body: string;
  /** ISO 8601. */
  created_at: string;
}

/** The simulated phone of the embedded default: texts go to `DATA_DIR/sms-outbox.jsonl`. */
export class OutboxTransport implements SmsTransport {
  readonly name = 'outbox';
  readonly file: string;
  private readonly outbox: OutboxFile<OutboxMessage>;

  constructor(
    dataDir: string,
    private readonly clock: Clock,
  ) {
    this.outbox = new OutboxFile(join(dataDir, 'sms-outbox.jsonl'));
    this.file = this.outbox.file;
  }

  async send(m: SmsMessage): Promise<void> {
    await this.outbox.append({ id: randomToken(9), to: m.to, body: m.body, created_at: new Date(this.clock.now()).toISOString() });
  }

  /** Newest first, at most `limit`, optionally only those sent to `to`. */
  list(o: { to?: string; limit?: number } = {}): Promise<OutboxMessage[]> {
    return this.outbox.list(o);
  }
}
