// Threat: a stranger signs up with someone else's address (their own phone, their own password),
// and the address's owner, finding "Confirm your email address" in the mailbox, clicks the link
// and so creates the stranger's account in the owner's name, one the stranger can log in to.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitMail, Browser, e164Of, latestSmsCode, newUser, signupTokenIn } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

forEachDatabase((kind) => {
  describe(`signup link hijack on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(() => t.stop());

    it("when the owner of the address opens a stranger's signup link then no account is made, and the stranger cannot log in", async () => {
      const victimEmail = `victim-${Date.now()}@example.com`;
      const stranger = newUser({ email: victimEmail });
      const attacker = new Browser(t.url);
      expect((await attacker.post('/user', stranger)).status).toBe(202);
      const { code } = await latestSmsCode(t.url, e164Of(stranger));
      expect((await attacker.post('/user/verify-phone', { code })).status).toBe(202);
      const mail = await awaitMail(t.url, victimEmail, 'Confirm your email address');
      // The mail says which phone signed up (its last digits), and nothing the stranger typed.
      expect(mail.text).toContain(`phone number ending in ${e164Of(stranger).slice(-2)}`);
      expect(mail.text).not.toContain(stranger.fullName);
      const victim = new Browser(t.url);
      const click = await victim.post('/user/verify-email', { token: signupTokenIn(mail) });
      expect(click).toMatchObject({ status: 401, body: { code: 'PASSWORD_REQUIRED' } });
      expect(victim.cookie).toBeUndefined();
      expect((await new Browser(t.url).post('/session', { email: victimEmail, password: stranger.password })).status).toBe(401);
      const rows = await t.system.db.selectFrom('app_users').select('id').where('email', '=', victimEmail).execute();
      expect(rows).toEqual([]);
    });

    it('when the browser that signed up opens its link then no password is asked (the check above can fail)', async () => {
      const u = newUser();
      const b = new Browser(t.url);
      expect((await b.post('/user', u)).status).toBe(202);
      const { code } = await latestSmsCode(t.url, e164Of(u));
      expect((await b.post('/user/verify-phone', { code })).status).toBe(202);
      const token = signupTokenIn(await awaitMail(t.url, u.email, 'Confirm your email address'));
      expect((await b.post('/user/verify-email', { token })).status).toBe(201);
    });
  });
});
