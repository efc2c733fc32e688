import twilio from 'twilio';
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

/** Twilio Programmable Messaging: POST /2010-04-01/Accounts/{sid}/Messages.json. */
export class TwilioTransport implements SmsTransport {
  readonly name = 'twilio';
  private readonly client: twilio.Twilio;

  constructor(private readonly o: TwilioOptions) {
    this.client = twilio(o.accountSid, o.authToken, { timeout: o.timeoutMs ?? 10_000, autoRetry: false });
    if (o.apiUrl) this.client.api.baseUrl = o.apiUrl.replace(/\/+$/, '');
  }

  async send(m: SmsMessage): Promise<void> {
    const sender = this.o.from.startsWith('MG') ? { messagingServiceSid: this.o.from } : { from: this.o.from };
    try {
      await this.client.messages.create({ ...sender, to: m.to, body: m.body });
    } catch (e) {
      const status = (e as { status?: number }).status;
      throw new SmsDeliveryError(`twilio refused the message${status ? ` (HTTP ${status})` : ''}`, { cause: e });
    }
  }
}
