import { createServer, type Server } from 'node:http';
import twilio from 'twilio';
import type { TestSystem } from './system.js';

/** The `twilio` package's client, as an app migrating from Twilio Verify uses it. */
export type VerifyClient = ReturnType<typeof twilio>;

/** A Twilio RestException as the `twilio` package throws it. */
export interface RestError {
  status: number;
  code: number;
  message: string;
  moreInfo: string;
}

/** A `twilio` client of `accountSid`/`key` whose Verify domain is the Twofold at `url` (the one line an app changes). */
export function verifyClientAt(url: string, accountSid: string, key: string): VerifyClient {
  const client = twilio(accountSid, key, { autoRetry: false });
  client.verify.baseUrl = url;
  return client;
}

/** The built-in app's client, its Account SID and its HTTP Basic header (for raw requests). */
export async function builtinVerifyClient(t: TestSystem): Promise<{ client: VerifyClient; accountSid: string; auth: string }> {
  const { account_sid: accountSid } = await t.system.db.selectFrom('apps').select('account_sid').where('builtin', '=', 1).executeTakeFirstOrThrow();
  return { client: verifyClientAt(t.url, accountSid, t.apiKey), accountSid, auth: `Basic ${Buffer.from(`${accountSid}:${t.apiKey}`).toString('base64')}` };
}

/** The rejection of `p` (a Twilio RestException), or a failure when it succeeded. */
export async function refusal(p: Promise<unknown>): Promise<RestError> {
  try {
    await p;
  } catch (e) {
    return e as RestError;
  }
  throw new Error('expected a refusal');
}

/** A webhook as a receiver got it. */
export interface ReceivedWebhook {
  path: string;
  signature: string | undefined;
  contentType: string | undefined;
  params: Record<string, string>;
}

/** A receiver of webhooks on 127.0.0.1: records each POST and answers `status()` (200). */
export async function webhookReceiver(status: () => number = () => 200): Promise<{ url: string; got: ReceivedWebhook[]; close: () => Promise<void> }> {
  const got: ReceivedWebhook[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => {
      got.push({ path: req.url ?? '', signature: req.headers['x-twilio-signature'] as string | undefined, contentType: req.headers['content-type'], params: Object.fromEntries(new URLSearchParams(body)) });
      res.statusCode = status();
      res.end();
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, got, close: () => new Promise((ok) => server.close(() => ok())) };
}
