// Stays here rather than in routes/: one sweep over the routes of three modules (login.ts,
// status-stream.ts, account.ts) asking each, without a login in progress, for 401. Each module's
// file in routes/ also checks its own routes' 401 answers, with their bodies.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { Browser } from './helpers.js';

forEachDatabase((kind) => {
  describe(`routes without a login in progress on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, env: { LOGIN_PER_ACCOUNT_LIMIT: '4', LOGIN_PER_IP_LIMIT: '60' } });
    });
    afterAll(async () => {
      await t?.stop();
    });

    it('when second-factor routes are called without a login in progress then 401', async () => {
      const b = new Browser(t.url);
      expect((await b.get('/authy/status')).status).toBe(401);
      expect((await b.post('/session/verify', { code: '123456' })).status).toBe(401);
      expect((await b.post('/session/resend', {})).status).toBe(401);
      expect((await b.post('/session/complete', {})).status).toBe(401);
      expect((await b.get('/user')).status).toBe(401);
      expect((await b.del('/session')).status).toBe(401);
      expect((await b.del('/user/authenticators/abc')).status).toBe(401);
      expect((await b.post('/user/totp-app', {})).status).toBe(401);
      expect((await b.post('/user/totp-app/confirm', { code: '123456' })).status).toBe(401);
      // A forged cookie is no session.
      b.cookie = `twofold=${'A'.repeat(43)}`;
      expect((await b.get('/user')).status).toBe(401);
    });
  });
});
