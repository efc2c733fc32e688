// Threat: SMS pumping and toll fraud (an attacker makes the service text premium or foreign
// numbers at the operator's cost), and flooding one victim's phone. Sends are capped per phone
// and per caller IP in the shared store, and only allowed countries receive anything.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { authy, registerUser } from '../verify/helpers.js';
import { Browser, newUser, signUp } from '../app/helpers.js';

async function sentTo(t: TestSystem, e164: string): Promise<number> {
  const r = await fetch(`${t.url}/dev/sms.json?to=${encodeURIComponent(e164)}`);
  return ((await r.json()) as { messages: unknown[] }).messages.length;
}

forEachDatabase((kind) => {
  describe(`SMS send caps on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      // The per-IP cap is raised here: every request of this suite comes from 127.0.0.1.
      t = await startTestSystem({ db: kind, env: { SMS_PER_IP_LIMIT: '1000' } });
    });
    afterAll(() => t.stop());

    it('when a sixth SMS is asked for one phone within 10 minutes then 429 60003 and nothing more is sent', async () => {
      const id = await registerUser(t.url, t.apiKey, '201-555-0191');
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await authy(t.url, t.apiKey, 'GET', `/protected/json/sms/${id}`, { force: 'true' })).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
      const last = await authy(t.url, t.apiKey, 'GET', `/protected/json/sms/${id}`, { force: 'true' });
      expect(last.status).toBe(429);
      expect(last.body).toMatchObject({ error_code: '60003', success: false, message: 'Too many requests, try again later' });
      expect(await sentTo(t, '+12015550191')).toBe(5);
    });

    it('when a web-app user logs in six times within 10 minutes then five SMS go out and the sixth login offers the app code, sending nothing', async () => {
      const u = newUser({ phone: '2015550194' });
      const b = new Browser(t.url);
      await signUp(b, u);
      await b.del('/session');
      const answers: Record<string, unknown>[] = [];
      for (let i = 0; i < 6; i++) answers.push((await new Browser(t.url).post('/session', { email: u.email, password: u.password })).body);
      expect(answers.map((a) => a.via)).toEqual(['sms', 'sms', 'sms', 'sms', 'sms', 'app']);
      // The page says why no text came, and when one can come again.
      expect(String(answers[5]!.message)).toMatch(/most text messages .* try "Resend" in \d+ (minutes|seconds)/);
      expect(Number(answers[5]!.retry_after)).toBeGreaterThan(0);
      // Five login codes and the signup's phone code (counted in its own window).
      expect(await sentTo(t, '+12015550194')).toBe(6);
    });

    /** Threat: strangers starting signups with a user's number to use up the texts the user needs to log in. */
    it('when strangers start signups with a user\'s number until refused then the owner still gets a login code', async () => {
      const owner = newUser({ phone: '2015550195' });
      await signUp(new Browser(t.url), owner);
      const strangers: number[] = [];
      for (let i = 0; i < 6; i++) strangers.push((await new Browser(t.url).post('/user', newUser({ phone: owner.phone }))).status);
      expect(strangers).toContain(429);
      const login = await new Browser(t.url).post('/session', { email: owner.email, password: owner.password });
      expect(login.body).toMatchObject({ state: 'code', via: 'sms' });
    });

    it('when 12 SMS requests for one phone race then at most 5 are sent', async () => {
      const id = await registerUser(t.url, t.apiKey, '201-555-0192');
      const results = await Promise.all(Array.from({ length: 12 }, () => authy(t.url, t.apiKey, 'GET', `/protected/json/sms/${id}`, { force: 'true' })));
      expect(results.filter((r) => r.status === 200).length).toBeLessThanOrEqual(5);
      expect(results.filter((r) => r.status !== 200).every((r) => r.status === 429)).toBe(true);
      expect(await sentTo(t, '+12015550192')).toBeLessThanOrEqual(5);
    });

    it('when phone verifications for one number exceed the cap then they are refused too', async () => {
      const start = () =>
        authy(t.url, t.apiKey, 'POST', '/protected/json/phones/verification/start', { via: 'sms', phone_number: '201-555-0193', country_code: '1' });
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await start()).status);
      expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
      expect(statuses[5]).toBe(429);
      expect(await sentTo(t, '+12015550193')).toBe(5);
    });
  });

  describe(`SMS per-IP cap and country allow-list on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, env: { SMS_PER_IP_LIMIT: '3', SMS_COUNTRY_ALLOWLIST: 'us,ca' } });
    });
    afterAll(() => t.stop());

    it('when one caller asks for SMS to many phones then the per-IP cap stops it', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const id = await registerUser(t.url, t.apiKey, `201-555-01${50 + i}`);
        statuses.push((await authy(t.url, t.apiKey, 'GET', `/protected/json/sms/${id}`, { force: 'true' })).status);
      }
      expect(statuses).toEqual([200, 200, 200, 429]);
      expect(await sentTo(t, '+12015550153')).toBe(0);
    });

    it('when the app passes the end user\'s user_ip then each end user has their own bucket', async () => {
      const send = async (phone: string, userIp: string) => {
        const id = await registerUser(t.url, t.apiKey, phone);
        return (await authy(t.url, t.apiKey, 'GET', `/protected/json/sms/${id}`, { force: 'true', user_ip: userIp })).status;
      };
      const a = [await send('201-555-0140', '198.51.100.1'), await send('201-555-0141', '198.51.100.1'), await send('201-555-0143', '198.51.100.1'), await send('201-555-0144', '198.51.100.1')];
      expect(a).toEqual([200, 200, 200, 429]);
      expect(await send('201-555-0145', '198.51.100.2')).toBe(200);
      // Not an IP: charged to the caller's own address (already spent above).
      expect(await send('201-555-0146', 'not-an-ip')).toBe(429);
    });

    it('when the phone is in a country outside the allow-list then registering works but nothing is sent', async () => {
      const reg = await authy(t.url, t.apiKey, 'POST', '/protected/json/users/new', {
        'user[email]': 'fr@example.com',
        'user[cellphone]': '06 12 34 56 78',
        'user[country_code]': '33',
      });
      expect(reg.status).toBe(200);
      const id = (reg.body['user'] as { id: number }).id;
      const s = await authy(t.url, t.apiKey, 'GET', `/protected/json/sms/${id}`, { force: 'true' });
      expect(s.status).toBe(400);
      expect(s.body).toMatchObject({ error_code: '60033', message: 'SMS delivery to this country is not allowed', success: false });
      const pv = await authy(t.url, t.apiKey, 'POST', '/protected/json/phones/verification/start', { via: 'sms', phone_number: '612345678', country_code: '33' });
      expect(pv.status).toBe(400);
      expect(await sentTo(t, '+33612345678')).toBe(0);
    });
  });
});
