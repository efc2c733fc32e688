// Threat: a TOTP code stays valid far longer than its 30 s step (an old code read over a shoulder
// or phished, or a code generated for the future), so the acceptance window must be ±1 step only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/platform/clock.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { passwordStep, totpAt, userWithTotp } from './helpers.js';

forEachDatabase((kind) => {
  describe(`TOTP acceptance window on ${kind}`, () => {
    // The middle of a step close to real time (device signatures use the real clock).
    const clock = new ManualClock(Math.floor(Date.now() / 30_000) * 30_000 + 15_000);
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, clock });
    });
    afterAll(() => t.stop());

    it('when a code of now−30 s is sent then it logs in once, and a second login with it is refused', async () => {
      const { u, secret } = await userWithTotp(t);
      const code = totpAt(secret, clock.now() - 30_000);
      const first = await passwordStep(t, u);
      const ok = await first.b.post('/session/verify', { code });
      expect(ok.status).toBe(200);
      expect((await first.b.get('/user')).status).toBe(200);
      const second = await passwordStep(t, u);
      const again = await second.b.post('/session/verify', { code });
      expect(again.status).toBe(400);
      expect(again.body.code).toBe('CODE_INVALID');
      expect((await second.b.get('/user')).status).toBe(401);
    });

    it('when codes of now−60 s or now+60 s are sent then both are refused, while the current code works', async () => {
      const { u, secret } = await userWithTotp(t);
      const { b } = await passwordStep(t, u);
      for (const offset of [-60_000, 60_000, -90_000, 90_000]) {
        const code = totpAt(secret, clock.now() + offset);
        // A code that happens to equal a code of the window proves nothing; skip that (1 in 10⁶).
        if ([-30_000, 0, 30_000].some((o) => totpAt(secret, clock.now() + o) === code)) continue;
        const r = await b.post('/session/verify', { code });
        expect(r.status, `offset ${offset / 1000} s`).toBe(400);
        expect(r.body.code).toBe('CODE_INVALID');
      }
      expect((await b.get('/user')).status).toBe(401);
      expect((await b.post('/session/verify', { code: totpAt(secret, clock.now()) })).status).toBe(200);
    });

    it('when a code of now+30 s is sent then it is accepted (the other edge of the window)', async () => {
      const { u, secret } = await userWithTotp(t);
      const { b } = await passwordStep(t, u);
      expect((await b.post('/session/verify', { code: totpAt(secret, clock.now() + 30_000) })).status).toBe(200);
    });
  });
});
