import type { Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { MailDeliveryError, type MailMessage, type MailTransport } from './transport.js';

/**
 * Mail through an SMTP server (`SMTP_URL`: smtp://user:pass@host:587 with STARTTLS when the
 * server offers it, or smtps://… for TLS from the first byte), with nodemailer, loaded on the
 * first message. Connections are pooled; a server that does not answer is given up on in seconds.
 */
export class SmtpTransport implements MailTransport {
  readonly name = 'smtp';
  private transporter: Promise<Transporter<SMTPTransport.SentMessageInfo>> | undefined;

  constructor(
    private readonly url: string,
    private readonly from: string,
  ) {}

  private open() {
    this.transporter ??= import('nodemailer').then(({ default: nodemailer }) => {
      const u = new URL(this.url);
      return nodemailer.createTransport({
        host: u.hostname.replace(/^\[|\]$/g, ''),
        port: u.port ? Number(u.port) : u.protocol === 'smtps:' ? 465 : 587,
        secure: u.protocol === 'smtps:',
        ...(u.username ? { auth: { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } } : {}),
        pool: true,
        maxConnections: 2,
        connectionTimeout: 10_000,
        greetingTimeout: 10_000,
        socketTimeout: 30_000,
      });
    });
    return this.transporter;
  }

  async send(m: MailMessage): Promise<void> {
    const t = await this.open();
    try {
      const info = await t.sendMail({ from: this.from, to: m.to, subject: m.subject, text: m.text, html: m.html });
      if (info.rejected.length > 0) throw new MailDeliveryError(`the SMTP server refused the recipient`);
    } catch (e) {
      if (e instanceof MailDeliveryError) throw e;
      throw new MailDeliveryError(`SMTP delivery failed: ${(e as Error).message}`);
    }
  }

  close(): void {
    void this.transporter?.then((t) => t.close());
  }
}
