// Threat: someone who can read the owner's mailbox (or its reset links) resets the password and
// is then logged in — the reset link standing in for both factors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitMail, Browser, resetTokenIn } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { userWithDevice, userWithTotp } from './helpers.js';

forEachDatabase((kind) => {
  describe(`reset does not bypass the second factor on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(() => t.stop());

    async function resetBy(attacker: Browser, email: string): Promise<void> {
      expect((await attacker.post('/password/forgot', { email })).status).toBe(202);
      const token = resetTokenIn(await awaitMail(t.url, email, 'Reset your password'));
      const r = await attacker.post('/password/reset', { token, password: 'the attacker chose this' });
      expect(r.status).toBe(200);
      // The reset itself gives no session: nothing protected answers.
      expect((await attacker.get('/user')).status).toBe(401);
    }

    it('when the account has an authenticator then the login after a reset waits for its approval and reaches nothing', async () => {
      const { u } = await userWithDevice(t);
      const attacker = new Browser(t.url);
      await resetBy(attacker, u.email);
      const r = await attacker.post('/session', { email: u.email, password: 'the attacker chose this' });
      expect(r).toMatchObject({ status: 200, body: { state: 'approve' } });
      expect((await attacker.get('/user')).status).toBe(401);
      expect((await attacker.post('/user/authenticators', {})).status).toBe(401);
      expect((await attacker.post('/session/complete', {})).status).not.toBe(200);
    });

    it('when the account has a TOTP app then the login after a reset asks for its code and reaches nothing without it', async () => {
      const { u } = await userWithTotp(t);
      const attacker = new Browser(t.url);
      await resetBy(attacker, u.email);
      const r = await attacker.post('/session', { email: u.email, password: 'the attacker chose this' });
      expect(r.status).toBe(200);
      expect(r.body.state).toBe('code');
      expect((await attacker.get('/user')).status).toBe(401);
      expect((await attacker.post('/session/verify', { code: '000000' })).status).toBe(400);
      expect((await attacker.get('/user')).status).toBe(401);
    });
  });
});
