// Password reset (src/app/routes/password.ts): POST /password/forgot and POST /password/reset.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/platform/clock.js';
import { forEachDatabase } from '../../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../../helpers/system.js';
import { createHash } from 'node:crypto';
import { awaitMail, Browser, latestSmsCode, mailTo, newUser, resetTokenIn, signUp } from '../helpers.js';
import { expectError } from './fixtures.js';

async function account(t: TestSystem) {
  const u = newUser();
  const b = new Browser(t.url);
  await signUp(b, u);
  return { u, b };
}

/** Whether the link is still stored (read from the database: trying it would spend it). */
async function resetLinkLive(t: TestSystem, token: string): Promise<boolean> {
  const hash = createHash('sha256').update(token).digest('hex');
  return (await t.system.db.selectFrom('app_password_resets').select('token_hash').where('token_hash', '=', hash).executeTakeFirst()) !== undefined;
}

async function resetLink(t: TestSystem, email: string, n = 1): Promise<string> {
  const r = await new Browser(t.url).post('/password/forgot', { email });
  expect(r.status).toBe(202);
  return resetTokenIn(await awaitMail(t.url, email, 'Reset your password', n));
}

forEachDatabase((kind) => {
  describe(`password reset on ${kind}`, () => {
    let t: TestSystem;
    const clock = new ManualClock(Date.now());
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, clock, env: { MAIL_PER_IP_LIMIT: '1000' } });
    });
    afterAll(async () => {
      await t?.stop();
    });

    it('when the owner asks for a link and sets a new password then the old one stops working, every session ends, and a notice says so', async () => {
      const { u, b } = await account(t);
      expect((await b.get('/user')).status).toBe(200);
      const token = await resetLink(t, u.email);
      const visitor = new Browser(t.url, 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Gecko/20100101 Firefox/140.0');
      const r = await visitor.post('/password/reset', { token, password: 'a brand new passphrase' });
      expect(r).toMatchObject({ status: 200, body: { state: 'password_reset' } });
      // The session logged in before the reset is over.
      expect((await b.get('/user')).status).toBe(401);
      expectError(await new Browser(t.url).post('/session', { email: u.email, password: u.password }), 401, 'INVALID_CREDENTIALS');
      const notice = await awaitMail(t.url, u.email, 'Your password was reset');
      expect(notice.text).toContain('Firefox on Windows');
      expect(notice.text).toContain('IP address: 127.0.0.1');
      expect(notice.text).toContain('If this was not you');
      expect(notice.text).not.toMatch(/https?:\/\//);
    });

    it('when the reset password is used then the login still asks for the second factor', async () => {
      const { u } = await account(t);
      const token = await resetLink(t, u.email);
      expect((await new Browser(t.url).post('/password/reset', { token, password: 'a brand new passphrase' })).status).toBe(200);
      const b = new Browser(t.url);
      const r = await b.post('/session', { email: u.email, password: 'a brand new passphrase' });
      expect(r).toMatchObject({ status: 200, body: { state: 'code', via: 'sms' } });
      expect((await b.get('/user')).status).toBe(401);
    });

    it('when an address has no account then the answer is the same and no mail goes out', async () => {
      const { u } = await account(t);
      const known = await new Browser(t.url).post('/password/forgot', { email: u.email });
      const stranger = `nobody-${Date.now()}@example.com`;
      const unknown = await new Browser(t.url).post('/password/forgot', { email: stranger });
      expect(unknown.status).toBe(known.status);
      expect(unknown.body).toEqual(known.body);
      await awaitMail(t.url, u.email, 'Reset your password');
      expect(await mailTo(t.url, stranger)).toEqual([]);
    });

    it('when a newer link is asked for then the older one no longer works', async () => {
      const { u } = await account(t);
      const first = await resetLink(t, u.email, 1);
      const second = await resetLink(t, u.email, 2);
      expect(second).not.toBe(first);
      expectError(await new Browser(t.url).post('/password/reset', { token: first, password: 'a brand new passphrase' }), 400, 'RESET_LINK_INVALID');
      expect((await new Browser(t.url).post('/password/reset', { token: second, password: 'a brand new passphrase' })).status).toBe(200);
    });

    it('when the owner completes a login after asking for a link then the link ends; the password step alone does not end it', async () => {
      const { u } = await account(t);
      const token = await resetLink(t, u.email);
      const b = new Browser(t.url);
      expect((await b.post('/session', { email: u.email, password: u.password })).status).toBe(200);
      expect(await resetLinkLive(t, token)).toBe(true);
      const { code } = await latestSmsCode(t.url, `+1${u.phone}`);
      expect((await b.post('/session/verify', { code })).status).toBe(200);
      expectError(await new Browser(t.url).post('/password/reset', { token, password: 'a brand new passphrase' }), 400, 'RESET_LINK_INVALID');
    });

    it('when a link is older than 30 minutes then it is refused', async () => {
      const { u } = await account(t);
      const token = await resetLink(t, u.email);
      clock.advance(30 * 60_000 + 1000);
      expectError(await new Browser(t.url).post('/password/reset', { token, password: 'a brand new passphrase' }), 400, 'RESET_LINK_INVALID');
    });

    it('when the new password breaks the rules or the token is malformed then 400 VALIDATION names the field, and the link still works', async () => {
      const { u } = await account(t);
      const token = await resetLink(t, u.email);
      const b = new Browser(t.url);
      expectError(await b.post('/password/reset', { token, password: 'password123' }), 400, 'VALIDATION', { fields: { password: expect.stringContaining('too common') } });
      expectError(await b.post('/password/reset', { token, password: 'short' }), 400, 'VALIDATION', { fields: { password: expect.any(String) } });
      expectError(await b.post('/password/reset', { token: 'x'.repeat(10), password: 'a brand new passphrase' }), 400, 'VALIDATION', { fields: { token: expect.any(String) } });
      expectError(await b.post('/password/reset', [1]), 400, 'VALIDATION', { fields: expect.any(Object) });
      expectError(await b.post('/password/forgot', { email: 'not an address' }), 400, 'VALIDATION', { fields: { email: expect.any(String) } });
      expect((await b.post('/password/reset', { token, password: 'a brand new passphrase' })).status).toBe(200);
    });

    it('when the link is unknown then 400 RESET_LINK_INVALID', async () => {
      expectError(await new Browser(t.url).post('/password/reset', { token: 'A'.repeat(43), password: 'a brand new passphrase' }), 400, 'RESET_LINK_INVALID');
    });

    it('when one address is asked for more than 3 times an hour then 429, whether or not it has an account', async () => {
      const { u } = await account(t);
      const stranger = `nobody-${Date.now()}@example.com`;
      for (const email of [u.email, stranger]) {
        for (let i = 0; i < 3; i++) expect((await new Browser(t.url).post('/password/forgot', { email })).status).toBe(202);
        expectError(await new Browser(t.url).post('/password/forgot', { email }), 429, 'RATE_LIMITED', { retry_after: expect.any(Number) });
      }
    });
  });

  describe(`password reset limits per client on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, env: { MAIL_PER_IP_LIMIT: '2', LINK_PER_IP_LIMIT: '20' } });
    });
    afterAll(async () => {
      await t?.stop();
    });

    it('when one client asks for links to many addresses then the third is 429, whichever the address', async () => {
      const b = new Browser(t.url);
      for (let i = 0; i < 2; i++) expect((await b.post('/password/forgot', { email: `someone-${i}-${Date.now()}@example.com` })).status).toBe(202);
      expectError(await b.post('/password/forgot', { email: `else-${Date.now()}@example.com` }), 429, 'RATE_LIMITED', { retry_after: expect.any(Number) });
    });

    it('when one client sends LINK_PER_IP_LIMIT (20) reset tries then the 21st is 429 before any token is looked up', async () => {
      const b = new Browser(t.url);
      const tries = await Promise.all(Array.from({ length: 20 }, (_, i) => b.post('/password/reset', { token: String(i).padStart(43, 'A'), password: 'a brand new passphrase' })));
      for (const r of tries) expectError(r, 400, 'RESET_LINK_INVALID');
      expectError(await b.post('/password/reset', { token: 'B'.repeat(43), password: 'a brand new passphrase' }), 429, 'RATE_LIMITED', { retry_after: expect.any(Number) });
    });
  });
});
