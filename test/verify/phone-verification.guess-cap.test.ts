// Threat: proving control of someone else's phone by guessing the (by default 4-digit) phone
// verification code, in parallel within one challenge or sequentially across many challenges.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { authy, lastSms } from './helpers.js';

forEachDatabase((kind) => {
  describe(`phone verification guessing on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, env: { OTP_LOCKOUT_THRESHOLD: '30', SMS_PER_PHONE_LIMIT: '100', SMS_PER_IP_LIMIT: '1000' } });
    });
    afterAll(() => t.stop());

    const start = (phone: string) => authy(t.url, t.apiKey, 'POST', '/protected/json/phones/verification/start', { via: 'sms', phone_number: phone, country_code: '1' });
    const check = (phone: string, code: string) =>
      authy(t.url, t.apiKey, 'GET', '/protected/json/phones/verification/check', { phone_number: phone, country_code: '1', verification_code: code });
    const other = (code: string, i: number) => String((Number(code) + 1 + i) % 10_000).padStart(4, '0');

    it('when 20 wrong codes race on one challenge then at most 5 count and the right one is then refused', async () => {
      expect((await start('201-555-0121')).status).toBe(200);
      const code = (await lastSms(t.url, '+12015550121'))!;
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => check('201-555-0121', other(code, i))));
      expect(results.filter((r) => r.body['error_code'] === '60022').length).toBeLessThanOrEqual(5);
      const row = await t.system.db.selectFrom('phone_verifications').selectAll().where('phone_e164', '=', '+12015550121').executeTakeFirstOrThrow();
      expect(row.attempts).toBe(5);
      expect((await check('201-555-0121', code)).status).not.toBe(200);
    });

    it('when checks continue across new challenges then the per-phone check cap ends them with 429', async () => {
      const statuses: number[] = [];
      for (let round = 0; round < 7; round++) {
        await start('201-555-0122');
        const code = (await lastSms(t.url, '+12015550122'))!;
        for (let i = 0; i < 5; i++) statuses.push((await check('201-555-0122', other(code, i))).status);
      }
      expect(statuses.slice(0, 30).every((s) => s === 401 || s === 404)).toBe(true);
      expect(statuses.slice(30).every((s) => s === 429)).toBe(true);
    });
  });
});
