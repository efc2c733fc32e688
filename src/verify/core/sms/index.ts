import type { Clock } from '../../../platform/clock.js';
import type { Config } from '../../../platform/config.js';
import { OutboxTransport } from './outbox.js';
import type { SmsTransport } from './transport.js';
import { TwilioTransport } from './twilio.js';
import { WebhookTransport } from './webhook.js';

export { OutboxTransport, type OutboxMessage } from './outbox.js';
export { TwilioTransport } from './twilio.js';
export { WebhookTransport } from './webhook.js';
export { SmsDeliveryError, type SmsMessage, type SmsTransport } from './transport.js';

/** The transport SMS_TRANSPORT names (config validation already required its settings). */
export function createSmsTransport(c: Config, clock: Clock): SmsTransport {
  switch (c.SMS_TRANSPORT) {
    case 'twilio':
      return new TwilioTransport({
        accountSid: c.TWILIO_ACCOUNT_SID ?? '',
        authToken: c.TWILIO_AUTH_TOKEN ?? '',
        from: c.TWILIO_FROM ?? '',
        apiUrl: c.TWILIO_API_URL,
      });
    case 'webhook':
      return new WebhookTransport(c.SMS_WEBHOOK_URL ?? '');
    case 'outbox':
      return new OutboxTransport(c.DATA_DIR, clock);
  }
}
