import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TwilioTransport, WebhookTransport, SmsDeliveryError } from '../../src/verify/core/sms/index.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { authy, registerUser } from './helpers.js';

interface Received {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A local HTTP server that records requests and answers with `reply` (status, JSON body). */
async function recorder(reply: (r: Received) => { status: number; body: unknown; delayMs?: number }) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const r = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
      received.push(r);
      const a = reply(r);
      setTimeout(() => res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body)), a.delayMs ?? 0);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    received,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

const SID = 'AC' + '0123456789abcdef'.repeat(2);
const TOKEN = 'test-auth-token';

/** A fake of Twilio's Messages endpoint that checks what real Twilio checks first. */
function twilioFake(failWith?: number) {
  return recorder((r) => {
    const auth = `Basic ${Buffer.from(`${SID}:${TOKEN}`).toString('base64')}`;
    if (r.headers.authorization !== auth) return { status: 401, body: { code: 20003, message: 'Authenticate', status: 401 } };
    if (r.method !== 'POST' || r.path !== `/2010-04-01/Accounts/${SID}/Messages.json`) return { status: 404, body: { code: 20404, status: 404 } };
    const form = new URLSearchParams(r.body);
    if (!form.get('To') || !form.get('Body') || !(form.get('From') || form.get('MessagingServiceSid'))) {
      return { status: 400, body: { code: 21604, message: 'A To, From and Body are required', status: 400 } };
    }
    if (failWith) return { status: failWith, body: { code: 21211, message: 'Invalid To', status: failWith } };
    return { status: 201, body: { sid: 'SM' + '1'.repeat(32), account_sid: SID, to: form.get('To'), from: form.get('From'), body: form.get('Body'), status: 'queued' } };
  });
}

describe('Twilio transport against a local fake of the Messages API', () => {
  it('when a message is sent then Twilio gets basic auth and the To, From and Body form fields', async () => {
    const fake = await twilioFake();
    try {
      await new TwilioTransport({ accountSid: SID, authToken: TOKEN, from: '+15005550006', apiUrl: fake.url }).send({ to: '+12015550123', body: 'Your code is 123456.' });
      expect(fake.received).toHaveLength(1);
      const form = new URLSearchParams(fake.received[0]!.body);
      expect(Object.fromEntries(form)).toEqual({ To: '+12015550123', From: '+15005550006', Body: 'Your code is 123456.' });
      expect(fake.received[0]!.headers['content-type']).toContain('application/x-www-form-urlencoded');
    } finally {
      await fake.close();
    }
  });

  it('when Twilio refuses then the transport rejects with SmsDeliveryError', async () => {
    const fake = await twilioFake(400);
    try {
      const t = new TwilioTransport({ accountSid: SID, authToken: TOKEN, from: '+15005550006', apiUrl: fake.url });
      await expect(t.send({ to: '+12015550123', body: 'x' })).rejects.toBeInstanceOf(SmsDeliveryError);
    } finally {
      await fake.close();
    }
  });

  it('when the credentials are wrong then the fake refuses and the transport rejects', async () => {
    const fake = await twilioFake();
    try {
      const t = new TwilioTransport({ accountSid: SID, authToken: 'wrong', from: '+15005550006', apiUrl: fake.url });
      await expect(t.send({ to: '+12015550123', body: 'x' })).rejects.toThrow(/HTTP 401/);
    } finally {
      await fake.close();
    }
  });
});

describe('webhook transport against a local server', () => {
  it('when a message is sent then the URL gets a JSON POST with to and body', async () => {
    const hook = await recorder(() => ({ status: 204, body: {} }));
    try {
      await new WebhookTransport(`${hook.url}/sms`).send({ to: '+12015550123', body: 'hello' });
      expect(hook.received[0]).toMatchObject({ method: 'POST', path: '/sms' });
      expect(hook.received[0]!.headers['content-type']).toContain('application/json');
      expect(JSON.parse(hook.received[0]!.body)).toEqual({ to: '+12015550123', body: 'hello' });
    } finally {
      await hook.close();
    }
  });

  it('when the webhook answers non-2xx, or too slowly, then the transport rejects', async () => {
    const failing = await recorder(() => ({ status: 500, body: {} }));
    const slow = await recorder(() => ({ status: 200, body: {}, delayMs: 2000 }));
    try {
      await expect(new WebhookTransport(failing.url).send({ to: '+1', body: 'x' })).rejects.toThrow(/HTTP 500/);
      await expect(new WebhookTransport(slow.url, 200).send({ to: '+1', body: 'x' })).rejects.toBeInstanceOf(SmsDeliveryError);
    } finally {
      await failing.close();
      await slow.close();
    }
  });
});

forEachDatabase((kind) => {
  describe(`the service with SMS_TRANSPORT=twilio on ${kind}`, () => {
    let fake: Awaited<ReturnType<typeof twilioFake>>;
    let t: TestSystem;
    beforeAll(async () => {
      fake = await twilioFake();
      t = await startTestSystem({
        db: kind,
        env: { SMS_TRANSPORT: 'twilio', TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: TOKEN, TWILIO_FROM: '+15005550006', TWILIO_API_URL: fake.url },
      });
    });
    afterAll(async () => {
      await t.stop();
      await fake.close();
    });

    it('when an SMS is requested then Twilio receives the code and it verifies', async () => {
      const id = await registerUser(t.url, t.apiKey, '201-555-0131');
      expect((await authy(t.url, t.apiKey, 'GET', `/protected/json/sms/${id}`, { force: 'true' })).status).toBe(200);
      const sent = new URLSearchParams(fake.received.at(-1)!.body);
      expect(sent.get('To')).toBe('+12015550131');
      const code = sent.get('Body')!.match(/\d{6}/)![0];
      expect((await authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${code}/${id}`)).status).toBe(200);
    });

    it('when the outbox is not the transport then /dev/sms is not served', async () => {
      expect((await fetch(`${t.url}/dev/sms.json`)).status).toBe(404);
    });
  });

  describe(`the service with a failing webhook transport on ${kind}`, () => {
    let hook: Awaited<ReturnType<typeof recorder>>;
    let t: TestSystem;
    beforeAll(async () => {
      hook = await recorder(() => ({ status: 502, body: {} }));
      t = await startTestSystem({ db: kind, env: { SMS_TRANSPORT: 'webhook', SMS_WEBHOOK_URL: `${hook.url}/sms` } });
    });
    afterAll(async () => {
      await t.stop();
      await hook.close();
    });

    it('when the transport fails then 503 with an Authy body', async () => {
      const id = await registerUser(t.url, t.apiKey, '201-555-0132');
      const r = await authy(t.url, t.apiKey, 'GET', `/protected/json/sms/${id}`, { force: 'true' });
      expect(r.status).toBe(503);
      expect(r.body).toMatchObject({ success: false, error_code: '60096', message: 'SMS delivery failed, try again later' });
      expect(hook.received).toHaveLength(1);
    });
  });
});
