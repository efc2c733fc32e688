// Threat: brute-forcing a 6-digit SMS code, by many guesses in parallel so that each passes an
// "attempts < 5" check before any increments it, or by asking for resends to refill the budget.
// The attempt is counted by a conditional UPDATE before the comparison, and a resend keeps it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { authy, lastSms, registerUser } from './helpers.js';

const wrongCodes = (right: string, n: number) =>
  Array.from({ length: n }, (_, i) => String((Number(right) + 1 + i) % 1_000_000).padStart(6, '0'));

forEachDatabase((kind) => {
  describe(`SMS attempt cap on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      // Account lockout is set out of the way so that this suite sees the per-code budget alone.
      t = await startTestSystem({ db: kind, env: { OTP_LOCKOUT_THRESHOLD: '100' } });
    });
    afterAll(() => t.stop());

    it('when 20 wrong codes race then at most 5 are counted and the right code is then refused', async () => {
      const id = await registerUser(t.url, t.apiKey, '201-555-0181');
      expect((await authy(t.url, t.apiKey, 'GET', `/protected/json/sms/${id}`, { force: 'true' })).status).toBe(200);
      const code = (await lastSms(t.url, '+12015550181'))!;
      const results = await Promise.all(wrongCodes(code, 20).map((c) => authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${c}/${id}`)));
      expect(results.every((r) => r.status === 401 && r.body['error_code'] === '60020')).toBe(true);
      const row = await t.system.db.selectFrom('sms_codes').selectAll().where('user_id', '=', id).executeTakeFirstOrThrow();
      expect(row.attempts).toBeLessThanOrEqual(5);
      expect(row.attempts).toBe(5);
      const right = await authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${code}/${id}`);
      expect(right.status).toBe(401);
      expect(right.body['error_code']).toBe('60020');
    });

    it('when a code is resent within its life then the attempts and the expiry are kept', async () => {
      const id = await registerUser(t.url, t.apiKey, '201-555-0182');
      await authy(t.url, t.apiKey, 'GET', `/protected/json/sms/${id}`, { force: 'true' });
      const first = (await lastSms(t.url, '+12015550182'))!;
      for (const c of wrongCodes(first, 3)) await authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${c}/${id}`);
      const before = await t.system.db.selectFrom('sms_codes').selectAll().where('user_id', '=', id).executeTakeFirstOrThrow();
      expect((await authy(t.url, t.apiKey, 'GET', `/protected/json/sms/${id}`, { force: 'true' })).status).toBe(200);
      const after = await t.system.db.selectFrom('sms_codes').selectAll().where('user_id', '=', id).executeTakeFirstOrThrow();
      expect(after.attempts).toBe(3);
      expect(after.expires_at).toBe(before.expires_at);
      expect(after.code_hash).not.toBe(before.code_hash);
      const second = (await lastSms(t.url, '+12015550182'))!;
      // The replaced code is dead, the new one works within the remaining budget.
      if (second !== first) expect((await authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${first}/${id}`)).status).toBe(401);
      expect((await authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${second}/${id}`)).status).toBe(200);
    });

    it('when the budget is spent then a resend within the code life is refused and nothing is sent', async () => {
      const id = await registerUser(t.url, t.apiKey, '201-555-0183');
      await authy(t.url, t.apiKey, 'GET', `/protected/json/sms/${id}`, { force: 'true' });
      const code = (await lastSms(t.url, '+12015550183'))!;
      for (const c of wrongCodes(code, 5)) await authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${c}/${id}`);
      const before = await fetch(`${t.url}/dev/sms.json?to=%2B12015550183`).then((r) => r.json() as Promise<{ messages: unknown[] }>);
      const resend = await authy(t.url, t.apiKey, 'GET', `/protected/json/sms/${id}`, { force: 'true' });
      expect(resend.status).toBe(429);
      expect(resend.body['error_code']).toBe('60003');
      const after = await fetch(`${t.url}/dev/sms.json?to=%2B12015550183`).then((r) => r.json() as Promise<{ messages: unknown[] }>);
      expect(after.messages.length).toBe(before.messages.length);
    });

    it('when a code is used once then it cannot be used again', async () => {
      const id = await registerUser(t.url, t.apiKey, '201-555-0184');
      await authy(t.url, t.apiKey, 'GET', `/protected/json/sms/${id}`, { force: 'true' });
      const code = (await lastSms(t.url, '+12015550184'))!;
      const both = await Promise.all([1, 2, 3].map(() => authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${code}/${id}`)));
      expect(both.filter((r) => r.status === 200)).toHaveLength(1);
    });
  });
});
