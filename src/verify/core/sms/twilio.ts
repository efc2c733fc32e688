import type twilio from 'twilio';
import { SmsDeliveryError, type SmsMessage, type SmsTransport } from './transport.js';

export interface TwilioOptions {
  accountSid: string;
  authToken: string;
  /** Sender: a Twilio phone number (E.164) or a Messaging Service SID (MG…). */
  from: string;
  /** Base URL of the REST API (default https://api.twilio.com); tests point it at a local fake. */
  apiUrl?: string | undefined;
  timeoutMs?: number;
}

/**
 * Twilio Programmable Messaging: POST /2010-04-01/Accounts/{sid}/Messages.json.
 *
 * The `twilio` package is loaded with the first message, not at start: it is the largest
 * dependency (about 15 MB of memory and 0.2 s of start-up), and most installations never use it.
 */
export class TwilioTransport implements SmsTransport {
  readonly name = 'twilio';
  private client: Promise<twilio.Twilio> | undefined;

  constructor(private readonly o: TwilioOptions) {}

  private connect(): Promise<twilio.Twilio> {
    this.client ??= import('twilio').then(({ default: create }) => {
      const c = create(this.o.accountSid, this.o.authToken, { timeout: this.o.timeoutMs ?? 10_000, autoRetry: false });
      if (this.o.apiUrl) c.api.baseUrl = this.o.apiUrl.replace(/\/+$/, '');
      return c;
    });
    return this.client;
  }

  async send(m: SmsMessage): Promise<void> {
    const sender = this.o.from.startsWith('MG') ? { messagingServiceSid: this.o.from } : { from: this.o.from };
    try {
      const client = await this.connect();
      await client.messages.create({ ...sender, to: m.to, body: m.body });
    } catch (e) {
      const status = (e as { status?: number }).status;
      throw new SmsDeliveryError(`twilio refused the message${status ? ` (HTTP ${status})` : ''}`, { cause: e });
    }
  }
}
