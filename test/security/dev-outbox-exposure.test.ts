// Threat: a production deployment left on the development SMS outbox publishes every user's codes
// at /dev/sms for anyone to read.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { authy, registerUser } from '../verify/helpers.js';

forEachDatabase((kind) => {
  describe(`dev outbox exposure on ${kind}`, () => {
    let prod: TestSystem;
    let dev: TestSystem;
    beforeAll(async () => {
      prod = await startTestSystem({ db: kind, env: { NODE_ENV: 'production', SMS_TRANSPORT: 'outbox' } });
      dev = await startTestSystem({ db: kind });
    });
    afterAll(async () => {
      await prod.stop();
      await dev.stop();
    });

    it('when NODE_ENV=production then /dev/sms and /dev/sms.json do not exist, though an SMS was sent', async () => {
      const id = await registerUser(prod.url, prod.apiKey);
      expect((await authy(prod.url, prod.apiKey, 'GET', `/protected/json/sms/${id}`)).status).toBe(200);
      expect((await fetch(`${prod.url}/dev/sms.json`)).status).toBe(404);
      expect((await fetch(`${prod.url}/dev/sms`)).status).toBe(404);
      expect(prod.logs.some((l) => l.includes('SMS_TRANSPORT=outbox in production'))).toBe(true);
    });

    it('when not in production then the same pages serve the outbox (the check above can fail)', async () => {
      const id = await registerUser(dev.url, dev.apiKey);
      expect((await authy(dev.url, dev.apiKey, 'GET', `/protected/json/sms/${id}`)).status).toBe(200);
      const r = await fetch(`${dev.url}/dev/sms.json`);
      expect(r.status).toBe(200);
      expect(((await r.json()) as { messages: unknown[] }).messages).toHaveLength(1);
    });
  });
});
