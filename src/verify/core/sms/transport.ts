/** One outgoing text message. `to` is E.164. */
export interface SmsMessage {
  to: string;
  body: string;
}

/** Delivers text messages; rejects when the message was not accepted for delivery. */
export interface SmsTransport {
  readonly name: 'outbox' | 'twilio' | 'webhook';
  send(message: SmsMessage): Promise<void>;
}

export class SmsDeliveryError extends Error {
  override name = 'SmsDeliveryError';
}
