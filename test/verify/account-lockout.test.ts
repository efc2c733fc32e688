// Threat: guessing second-factor codes across many challenges (each SMS code has its own small
// budget, TOTP has none). Consecutive failures per user lock verification for a while; the lock
// answers exactly like a wrong code so that it cannot be used as an oracle; 100 consecutive
// failures lock until an operator resets them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/platform/clock.js';
import { generateTotp, base32Decode } from '../../src/verify/core/totp.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { authy, lastSms, registerUser, secretFromUri } from './helpers.js';

forEachDatabase((kind) => {
  describe(`second-factor account lockout on ${kind}`, () => {
    let t: TestSystem;
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, clock, env: { SMS_PER_PHONE_LIMIT: '1000', SMS_PER_IP_LIMIT: '1000' } });
    });
    afterAll(() => t.stop());

    async function enrolled(): Promise<{ id: number; code: () => string }> {
      const id = await registerUser(t.url, t.apiKey);
      const s = await authy(t.url, t.apiKey, 'POST', `/protected/json/users/${id}/secret`);
      const secret = base32Decode(secretFromUri(s.body['uri'] as string));
      return { id, code: () => generateTotp(secret, clock.now()) };
    }
    const verify = (id: number, code: string) => authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${code}/${id}`);
    const wrong = (c: string) => String((Number(c) + 500_000) % 1_000_000).padStart(6, '0');

    it('when 10 consecutive failures happen then the correct code is refused with the wrong-code body until the lock ends', async () => {
      const u = await enrolled();
      let wrongAnswer = '';
      for (let i = 0; i < 10; i++) {
        const r = await verify(u.id, wrong(u.code()));
        expect(r.status).toBe(401);
        wrongAnswer = r.text;
      }
      const locked = await verify(u.id, u.code());
      expect(locked.status).toBe(401);
      expect(locked.text).toBe(wrongAnswer);
      clock.advance(901_000);
      expect((await verify(u.id, u.code())).status).toBe(200);
      const events = await t.system.platform.audit.forUser(`authy:${u.id}`, 50);
      expect(events.some((e) => e.type === 'lockout')).toBe(true);
      expect(events.some((e) => e.type === 'second_factor' && e.outcome === 'success' && e.detail['kind'] === 'totp')).toBe(true);
    });

    it('when a success comes before the threshold then the count starts again', async () => {
      const u = await enrolled();
      for (let i = 0; i < 9; i++) await verify(u.id, wrong(u.code()));
      expect((await verify(u.id, u.code())).status).toBe(200);
      clock.advance(30_000);
      for (let i = 0; i < 9; i++) await verify(u.id, wrong(u.code()));
      expect((await verify(u.id, u.code())).status).toBe(200);
    });

    it('when a new SMS challenge is sent during a lock then its code is refused too', async () => {
      const id = await registerUser(t.url, t.apiKey, '201-555-0161');
      for (let i = 0; i < 10; i++) await verify(id, '123456');
      expect((await authy(t.url, t.apiKey, 'GET', `/protected/json/sms/${id}`, { force: 'true' })).status).toBe(200);
      const code = (await lastSms(t.url, '+12015550161'))!;
      const r = await verify(id, code);
      expect(r.status).toBe(401);
      expect(r.body['error_code']).toBe('60020');
    });

    it('when 20 wrong guesses race then at most 10 are compared before the lock', async () => {
      const u = await enrolled();
      await Promise.all(Array.from({ length: 20 }, () => verify(u.id, wrong(u.code()))));
      const row = await t.system.platform.db.db.selectFrom('verify_users').select(['failed_verifications', 'locked_until']).where('id', '=', u.id).executeTakeFirstOrThrow();
      expect(row.failed_verifications).toBe(10);
      expect(row.locked_until).toBe(clock.now() + 900_000);
    });

    it('when steps fall out of the window then their used-step rows are pruned on the next success', async () => {
      const u = await enrolled();
      expect((await verify(u.id, u.code())).status).toBe(200);
      clock.advance(300_000);
      expect((await verify(u.id, u.code())).status).toBe(200);
      const rows = await t.system.platform.db.db.selectFrom('totp_used_steps').select('step').where('user_id', '=', u.id).execute();
      expect(rows.map((r) => r.step)).toEqual([Math.floor(clock.now() / 30_000)]);
    });

    it('when 100 consecutive failures accumulate then the user stays locked until an operator resets it', async () => {
      const u = await enrolled();
      let failures = 0;
      while (failures < 100) {
        const r = await verify(u.id, wrong(u.code()));
        expect(r.status).toBe(401);
        const row = await t.system.platform.db.db.selectFrom('verify_users').select('failed_verifications').where('id', '=', u.id).executeTakeFirstOrThrow();
        failures = row.failed_verifications;
        if (failures >= 10) clock.advance(901_000);
      }
      clock.advance(7 * 24 * 3600_000);
      expect((await verify(u.id, u.code())).status).toBe(401);
      // Operator reset (what `twofold apps unlock --user <id>` does).
      await t.system.platform.db.db.updateTable('verify_users').set({ failed_verifications: 0, locked_until: null }).where('id', '=', u.id).execute();
      expect((await verify(u.id, u.code())).status).toBe(200);
    });
  });
});
