// Threat: a session left open on an unattended or stolen browser stays usable forever; the idle
// timeout (SESSION_IDLE_SECONDS) and the absolute lifetime (SESSION_ABSOLUTE_SECONDS) must end it
// server-side, whatever the cookie's own expiry says.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/platform/clock.js';
import { addTotpApp, Browser, newUser, signUp } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { passwordStep, totpAt, userWithTotp } from './helpers.js';

forEachDatabase((kind) => {
  describe(`session timeouts (idle 7 s, absolute 10 s) on ${kind}`, () => {
    const clock = new ManualClock(Math.floor(Date.now() / 30_000) * 30_000 + 1000);
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, clock, env: { SESSION_IDLE_SECONDS: '7', SESSION_ABSOLUTE_SECONDS: '10', LOGIN_PER_ACCOUNT_LIMIT: '100' } });
    });
    afterAll(() => t.stop());

    async function twoSessions() {
      const u = newUser();
      const a = new Browser(t.url);
      await signUp(a, u);
      const copy = new Browser(t.url);
      const secret = await addTotpApp(a, clock);
      expect((await copy.post('/session', { email: u.email, password: u.password })).status).toBe(200);
      expect((await copy.post('/session/verify', { code: totpAt(secret, clock.now()) })).status).toBe(200);
      return { a, b: copy };
    }

    it('when one of two sessions is used at 4 s then at 7 s idle the unused one is gone and the used one lives', async () => {
      const { a: idle, b: busy } = await twoSessions();
      clock.advance(4000);
      expect((await busy.get('/user')).status).toBe(200);
      clock.advance(3000);
      expect((await idle.get('/user')).status).toBe(401);
      expect((await busy.get('/user')).status).toBe(200);
    });

    it('when a session used every 3 s reaches 10 s of age then it ends (absolute lifetime)', async () => {
      const { a } = await twoSessions();
      for (let i = 0; i < 3; i++) {
        clock.advance(3000);
        expect((await a.get('/user')).status).toBe(200);
      }
      clock.advance(999);
      expect((await a.get('/user')).status).toBe(200);
      clock.advance(1);
      expect((await a.get('/user')).status).toBe(401);
      // And it stays gone (the row was deleted, not merely hidden).
      clock.advance(-5000);
      expect((await a.get('/user')).status).toBe(401);
      clock.advance(5000);
    });

    it('when a session is used at 4 s then at 8 s it is alive (the idle clock restarts at every use)', async () => {
      const { a } = await twoSessions();
      clock.advance(4000);
      expect((await a.get('/user')).status).toBe(200);
      clock.advance(4000);
      expect((await a.get('/user')).status).toBe(200);
    });

    it('when the half session of a login is idle for 7 s then the login is over too', async () => {
      const { u, secret } = await userWithTotp(t);
      const { b } = await passwordStep(t, u, 'code');
      clock.advance(7000);
      expect((await b.post('/session/verify', { code: totpAt(secret, clock.now()) })).status).toBe(401);
    });
  });
});
