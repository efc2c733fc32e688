import { join } from 'node:path';
import type { Clock } from '../clock.js';
import { randomToken } from '../crypto.js';
import { OutboxFile } from '../outbox-file.js';
import type { MailMessage, MailTransport } from './transport.js';

export interface OutboxMail extends MailMessage {
  id: string;
  from: string;
  /** ISO 8601. */
  created_at: string;
}

/** The simulated mailbox of the embedded default: mail goes to `DATA_DIR/mail-outbox.jsonl`. */
export class MailOutbox implements MailTransport {
  readonly name = 'outbox';
  readonly file: string;
  private readonly outbox: OutboxFile<OutboxMail>;

  constructor(
    dataDir: string,
    private readonly from: string,
    private readonly clock: Clock,
  ) {
    this.outbox = new OutboxFile(join(dataDir, 'mail-outbox.jsonl'));
    this.file = this.outbox.file;
  }

  async send(m: MailMessage): Promise<void> {
    await this.outbox.append({ id: randomToken(9), from: this.from, ...m, created_at: new Date(this.clock.now()).toISOString() });
  }

  list(o: { to?: string; limit?: number } = {}): Promise<OutboxMail[]> {
    return this.outbox.list(o);
  }

  close(): void {}
}
