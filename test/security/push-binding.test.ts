// Threat (the original tutorial's flaw): approval state kept per user, so one approval unlocks
// every pending login of that user — including an attacker's who knows the password.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { passwordStep, pendingFor, userWithDevice } from './helpers.js';

forEachDatabase((kind) => {
  describe(`push approval bound to its login attempt on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(() => t.stop());

    it('when login attempt A is approved then a concurrent attempt B of the same user stays pending and cannot complete', async () => {
      const { u, device } = await userWithDevice(t);
      const a = await passwordStep(t, u, 'approve');
      const bAttempt = await passwordStep(t, u, 'approve');
      const pending = await pendingFor(device, 2);
      // Newest first: A's request is the older one.
      const reqA = pending[pending.length - 1]!;
      expect((await device.answer(reqA, 'approve', a.number)).status).toBe(200);
      await eventually(async () => ((await a.b.get('/authy/status')).body.status === 'approved' ? true : undefined));
      const results = await Promise.all(Array.from({ length: 5 }, () => bAttempt.b.post('/session/complete', {})));
      expect(results.map((r) => r.status)).toEqual([409, 409, 409, 409, 409]);
      expect((await bAttempt.b.get('/authy/status')).body.status).toBe('pending');
      expect((await bAttempt.b.get('/user')).status).toBe(401);
      expect((await a.b.post('/session/complete', {})).status).toBe(200);
      expect((await a.b.get('/user')).status).toBe(200);
      expect((await bAttempt.b.get('/user')).status).toBe(401);
      // B's own request is still there, untouched, on the device.
      expect((await device.pending()).map((r) => r.uuid)).toEqual([pending[0]!.uuid]);
    });

    it("when attempt B's approval is answered by A's number then it is refused and B stays pending", async () => {
      const { u, device } = await userWithDevice(t);
      const a = await passwordStep(t, u, 'approve');
      const b = await passwordStep(t, u, 'approve');
      const [reqB] = await pendingFor(device, 2);
      if (a.number !== b.number) {
        expect((await device.answer(reqB!, 'approve', a.number)).status).toBe(403);
      }
      expect((await b.b.get('/authy/status')).body.status).toBe('pending');
      expect((await a.b.get('/authy/status')).body.status).toBe('pending');
      expect((await b.b.post('/session/complete', {})).status).toBe(409);
    });
  });
});
