import type { Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { MailDeliveryError, type MailMessage, type MailTransport } from './transport.js';

/** Hosts with which mail may travel in clear: the same machine. */
const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1']);

/**
 * Mail through an SMTP server (`SMTP_URL`: smtp://user:pass@host:587, which must then offer
 * STARTTLS, or smtps://… for TLS from the first byte), with nodemailer, loaded on the first
 * message. Only a server on this machine may take mail in clear: elsewhere a connection that does
 * not become TLS is refused, so nobody on the path can strip STARTTLS and read the credentials or
 * the reset links. Connections are pooled; a server that does not answer is given up on in seconds.
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
      const host = u.hostname.replace(/^\[|\]$/g, '');
      return nodemailer.createTransport({
        host,
        port: u.port ? Number(u.port) : u.protocol === 'smtps:' ? 465 : 587,
        secure: u.protocol === 'smtps:',
        requireTLS: u.protocol === 'smtp:' && !LOOPBACK.has(host),
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
      if (info.rejected.length > 0) throw new MailDeliveryError('the SMTP server refused the recipient', { permanent: true });
    } catch (e) {
      if (e instanceof MailDeliveryError) throw e;
      // The server's reply may quote the recipient: only its codes are kept.
      const { code, responseCode } = e as { code?: string; responseCode?: number };
      const permanent = responseCode !== undefined && responseCode >= 500 && responseCode < 600;
      throw new MailDeliveryError(`SMTP delivery failed (${[code, responseCode].filter((x) => x !== undefined).join(' ') || 'no answer'})`, { permanent });
    }
  }

  close(): void {
    void this.transporter?.then((t) => t.close());
  }
}
