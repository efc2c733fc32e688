// Threat: a production deployment left on the development SMS or mail outbox publishes every
// user's codes at /dev/sms, or their reset links at /dev/mail, for anyone to read.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/platform/config.js';
import { createLogger } from '../../src/platform/logger.js';
import { createSystem } from '../../src/system.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { authy, registerUser } from '../verify/helpers.js';
import { awaitMail, Browser, eventually, newUser, signUp } from '../app/helpers.js';

forEachDatabase((kind) => {
  describe(`dev outbox exposure on ${kind}`, () => {
    let prod: TestSystem;
    let dev: TestSystem;
    beforeAll(async () => {
      prod = await startTestSystem({ db: kind, env: { NODE_ENV: 'production', SMS_TRANSPORT: 'outbox', MAIL_TRANSPORT: 'outbox' } });
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

    it('when NODE_ENV=production then /dev/mail and /dev/mail.json do not exist, though a reset link was mailed', async () => {
      const u = newUser();
      await prod.system.db.insertInto('app_users').values({ email: u.email, full_name: 'Prod', password_hash: 'x', country_code: '1', region: 'US', phone: u.phone, authy_id: null, totp_app_confirmed_at: null, created_at: Date.now() }).execute();
      expect((await new Browser(prod.url).post('/password/forgot', { email: u.email })).status).toBe(202);
      const file = join(prod.dataDir, 'mail-outbox.jsonl');
      await eventually(async () => existsSync(file) && readFileSync(file, 'utf8').includes(u.email));
      expect((await fetch(`${prod.url}/dev/mail.json`)).status).toBe(404);
      expect((await fetch(`${prod.url}/dev/mail`)).status).toBe(404);
      expect(prod.logs.some((l) => l.includes('MAIL_TRANSPORT=outbox in production'))).toBe(true);
    });

    it('when a request names another host (DNS rebinding) then /dev/sms and /dev/mail refuse it 403', async () => {
      for (const path of ['/dev/sms', '/dev/sms.json', '/dev/mail', '/dev/mail.json']) {
        const port = new URL(dev.url).port;
        const r = await new Promise<number>((resolve, reject) => {
          const req = httpRequest({ host: '127.0.0.1', port, path, headers: { host: `evil.example:${port}` } }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on('error', reject);
          req.end();
        });
        expect(r, path).toBe(403);
        expect((await fetch(`${dev.url}${path}`)).status, path).toBe(200);
      }
    });

    it('when not in production then the same pages serve the outbox (the check above can fail)', async () => {
      const id = await registerUser(dev.url, dev.apiKey);
      expect((await authy(dev.url, dev.apiKey, 'GET', `/protected/json/sms/${id}`)).status).toBe(200);
      const r = await fetch(`${dev.url}/dev/sms.json`);
      expect(r.status).toBe(200);
      expect(((await r.json()) as { messages: unknown[] }).messages).toHaveLength(1);
    });

    it('when not in production then the mail pages serve the outbox, with the links to this system followable (the check above can fail)', async () => {
      const u = newUser();
      await signUp(new Browser(dev.url), u);
      expect((await new Browser(dev.url).post('/password/forgot', { email: u.email })).status).toBe(202);
      await awaitMail(dev.url, u.email, 'Reset your password');
      const page = await fetch(`${dev.url}/dev/mail`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(await page.text()).toMatch(/<a href="http:\/\/[^"]+\/password\/reset#token=[A-Za-z0-9_-]{43}">/);
    });
  });
});

// Threat: the quick start (`npm start`, SMS to the outbox) reachable from the network, where
// anyone who can reach the port reads every code at /dev/sms.
describe('where the quick start listens', () => {
  async function listeningOn(env: Record<string, string>): Promise<{ addresses: string[]; url: string }> {
    const dataDir = mkdtempSync(join(tmpdir(), 'twofold-listen-'));
    const system = await createSystem({ config: loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...env }), logger: createLogger('silent') });
    try {
      const url = await system.listen(0);
      return { addresses: system.addresses(), url };
    } finally {
      await system.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }

  it('when the SMS outbox is on and HOST is unset then it listens on loopback only (127.0.0.1, and ::1 where the machine has it)', async () => {
    const { addresses, url } = await listeningOn({});
    expect(addresses.length).toBeGreaterThanOrEqual(1);
    expect(addresses[0]).toMatch(/^127\.0\.0\.1:\d+$/);
    for (const a of addresses.slice(1)) expect(a).toMatch(/^\[::1\]:\d+$/);
    expect(url).toMatch(/^http:\/\/localhost:\d+$/);
  });

  it('when HOST is set then it listens there, outbox or not', async () => {
    const { addresses } = await listeningOn({ HOST: '0.0.0.0' });
    expect(addresses).toHaveLength(1);
    expect(addresses[0]).toMatch(/^0\.0\.0\.0:\d+$/);
  });

  it('when SMS and mail go to real transports then it listens on every interface by default', async () => {
    const { addresses } = await listeningOn({ SMS_TRANSPORT: 'webhook', SMS_WEBHOOK_URL: 'http://127.0.0.1:9/sms', MAIL_TRANSPORT: 'smtp', SMTP_URL: 'smtp://127.0.0.1:9' });
    expect(addresses).toEqual([expect.stringMatching(/^0\.0\.0\.0:\d+$/)]);
  });

  it('when only the mail outbox is left on then it still listens on loopback only', async () => {
    const { addresses } = await listeningOn({ SMS_TRANSPORT: 'webhook', SMS_WEBHOOK_URL: 'http://127.0.0.1:9/sms' });
    expect(addresses[0]).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('when the outbox page is served then it may not be framed', async () => {
    const t = await startTestSystem({});
    try {
      const r = await fetch(`${t.url}/dev/sms`);
      expect(r.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    } finally {
      await t.stop();
    }
  });
});
