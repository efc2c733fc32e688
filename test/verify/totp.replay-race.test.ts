// Threat: a TOTP code observed or phished once is replayed, possibly many times in parallel so
// that several requests pass a read-then-write check before any of them records the use.
// The (user_id, step) primary key must let exactly one of them through.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { authy, oathtool, registerUser, secretFromUri } from './helpers.js';

forEachDatabase((kind) => {
  describe(`TOTP replay race on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(() => t.stop());

    it('when 20 verifications of one valid code race then exactly one succeeds and the rest are 60019 or 60020', async () => {
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
      const rows = await t.system.platform.db.db.selectFrom('totp_used_steps').selectAll().where('user_id', '=', id).execute();
      expect(rows).toHaveLength(1);
    });
  });
});
