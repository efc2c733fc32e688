import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { MailOutbox } from './outbox.js';
import { SmtpTransport } from './smtp.js';
import { MailDeliveryError, type MailMessage, type MailTransport } from './transport.js';

export { MailOutbox, type OutboxMail } from './outbox.js';
export { MailDeliveryError, type MailMessage, type MailTransport } from './transport.js';

/** Tries of one message, and the wait before each retry. */
const RETRY_DELAYS_MS = [2_000, 10_000, 60_000];

/**
 * Sends the system's email. `send` waits for the transport; `post` hands the message over and
 * returns at once (the request that caused it does not wait for, or reveal, the delivery), trying
 * again after 2 s, 10 s and 1 min. Logs name the subject and the transport's reason, never the
 * recipient or the body (it may hold a link).
 */
export class Mailer {
  private readonly pending = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(
    readonly transport: MailTransport,
    private readonly logger: Logger,
  ) {}

  send(m: MailMessage): Promise<void> {
    return this.transport.send(m);
  }

  post(m: MailMessage): void {
    void this.attempt(m, 0);
  }

  private async attempt(m: MailMessage, tries: number): Promise<void> {
    try {
      await this.transport.send(m);
    } catch (err) {
      const facts = { transport: this.transport.name, attempts: tries + 1, reason: (err as Error).message };
      const delay = err instanceof MailDeliveryError && err.permanent ? undefined : RETRY_DELAYS_MS[tries];
      if (delay === undefined || this.stopped) {
        this.logger.error(facts, `mail "${m.subject}" not delivered; giving up`);
        return;
      }
      this.logger.warn(facts, `mail "${m.subject}" not delivered; will try again`);
      const timer = setTimeout(() => {
        this.pending.delete(timer);
        void this.attempt(m, tries + 1);
      }, delay);
      timer.unref();
      this.pending.add(timer);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.pending) clearTimeout(t);
    this.pending.clear();
    this.transport.close();
  }
}

export function openMailer(config: Config, logger: Logger, clock: Clock): Mailer {
  const transport = config.MAIL_TRANSPORT === 'smtp' ? new SmtpTransport(config.SMTP_URL!, config.MAIL_FROM) : new MailOutbox(config.DATA_DIR, config.MAIL_FROM, clock);
  return new Mailer(transport, logger);
}
