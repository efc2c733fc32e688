/** One outgoing email: plain text, and the same in simple HTML. */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** Delivers email; rejects (MailDeliveryError) when the message was not accepted. */
export interface MailTransport {
  readonly name: 'outbox' | 'smtp';
  send(message: MailMessage): Promise<void>;
  close(): void;
}

export class MailDeliveryError extends Error {
  override name = 'MailDeliveryError';
  /** The server refused it for good (5xx): trying again would not help. */
  readonly permanent: boolean;
  constructor(message: string, o: { permanent?: boolean } = {}) {
    super(message);
    this.permanent = o.permanent ?? false;
  }
}
