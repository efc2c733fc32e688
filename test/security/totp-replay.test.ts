// Threat: a TOTP code observed or phished once is replayed — in a second login attempt, or many
// times in parallel so that several requests pass a read-then-write check before any of them
// records the use. The (user_id, step) primary key must let exactly one of them through.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { authy, oathtool, registerUser, secretFromUri } from '../verify/helpers.js';
import { Browser } from '../app/helpers.js';
import { passwordStep, totpAt, userWithTotp } from './helpers.js';

forEachDatabase((kind) => {
  describe(`TOTP replay on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, env: { LOGIN_PER_ACCOUNT_LIMIT: '100' } });
    });
    afterAll(() => t.stop());

    it('when one code is sent to two login attempts, one after the other, then exactly one logs in', async () => {
      const { u, secret } = await userWithTotp(t);
      const code = totpAt(secret, Date.now());
      const a = await passwordStep(t, u);
      const b = await passwordStep(t, u);
      const ra = await a.b.post('/session/verify', { code });
      const rb = await b.b.post('/session/verify', { code });
      expect([ra.status, rb.status]).toEqual([200, 400]);
      expect(rb.body.code).toBe('CODE_INVALID');
      expect((await b.b.get('/user')).status).toBe(401);
    });

    it('when one code is sent to 20 login attempts in parallel then exactly one session is issued', async () => {
      const { u, secret } = await userWithTotp(t);
      const attempts: Browser[] = [];
      for (let i = 0; i < 20; i++) attempts.push((await passwordStep(t, u)).b);
      const code = totpAt(secret, Date.now());
      const results = await Promise.all(attempts.map((b) => b.post('/session/verify', { code })));
      expect(results.filter((r) => r.status === 200)).toHaveLength(1);
      expect(results.filter((r) => r.status !== 200).every((r) => r.status === 400 && r.body.code === 'CODE_INVALID')).toBe(true);
      const pages = await Promise.all(attempts.map((b) => b.get('/user')));
      expect(pages.filter((r) => r.status === 200)).toHaveLength(1);
    });

    it('when 20 verifications of one valid code race at the service then exactly one succeeds and the rest are 60019 or 60020', async () => {
      const id = await registerUser(t.url, t.apiKey);
      const s = await authy(t.url, t.apiKey, 'POST', `/protected/json/users/${id}/secret`);
      const code = oathtool(secretFromUri(s.body['uri'] as string));
      const results = await Promise.all(Array.from({ length: 20 }, () => authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${code}/${id}`)));
      const ok = results.filter((r) => r.status === 200);
      expect(ok).toHaveLength(1);
      for (const r of results.filter((x) => x.status !== 200)) {
        expect(r.status).toBe(401);
        expect(['60019', '60020']).toContain(r.body['error_code']);
      }
      const rows = await t.system.db.selectFrom('totp_used_steps').selectAll().where('user_id', '=', id).execute();
      expect(rows).toHaveLength(1);
    });
  });
});
