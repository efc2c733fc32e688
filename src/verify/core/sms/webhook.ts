import { SmsDeliveryError, type SmsMessage, type SmsTransport } from './transport.js';

/** POSTs `{ "to": "+1…", "body": "…" }` as JSON to a URL; any 2xx means accepted. */
export class WebhookTransport implements SmsTransport {
  readonly name = 'webhook';

  constructor(
    private readonly url: string,
    private readonly timeoutMs = 5_000,
  ) {}

  async send(m: SmsMessage): Promise<void> {
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ to: m.to, body: m.body }),
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'error',
      });
    } catch (e) {
      throw new SmsDeliveryError('SMS webhook unreachable', { cause: e });
    }
    await res.body?.cancel().catch(() => {});
    if (res.status < 200 || res.status > 299) throw new SmsDeliveryError(`SMS webhook answered HTTP ${res.status}`);
  }
}
