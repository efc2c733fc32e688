// Threat: a password reset link used twice — replayed from a mailbox, a proxy log or a browser
// history, or sent by many requests at once so that more than one wins — sets a password the
// owner does not know after the owner already used the link.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitMail, Browser, newUser, resetTokenIn, signUp } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

forEachDatabase((kind) => {
  describe(`reset token replay on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(() => t.stop());

    async function linkFor(): Promise<{ email: string; token: string }> {
      const u = newUser();
      await signUp(new Browser(t.url), u);
      expect((await new Browser(t.url).post('/password/forgot', { email: u.email })).status).toBe(202);
      return { email: u.email, token: resetTokenIn(await awaitMail(t.url, u.email, 'Reset your password')) };
    }

    it('when a used link is sent again then it is refused and the password stays the one the owner chose', async () => {
      const { email, token } = await linkFor();
      expect((await new Browser(t.url).post('/password/reset', { token, password: 'the owner chose this' })).status).toBe(200);
      const replay = await new Browser(t.url).post('/password/reset', { token, password: 'the attacker chose this' });
      expect(replay).toMatchObject({ status: 400, body: { code: 'RESET_LINK_INVALID' } });
      expect((await new Browser(t.url).post('/session', { email, password: 'the owner chose this' })).status).toBe(200);
      expect((await new Browser(t.url).post('/session', { email, password: 'the attacker chose this' })).status).toBe(401);
    });

    it('when 12 requests carry one link at the same moment then exactly one sets its password', async () => {
      const { email, token } = await linkFor();
      const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => new Browser(t.url).post('/password/reset', { token, password: `racing password number ${i}` })));
      const won = answers.flatMap((a, i) => (a.status === 200 ? [i] : []));
      expect(won).toHaveLength(1);
      for (const a of answers) if (a.status !== 200) expect(a).toMatchObject({ status: 400, body: { code: 'RESET_LINK_INVALID' } });
      // One after the other: a burst of wrong passwords would trip the account's login throttle
      // and could refuse the right one too. The stored hash matches one password only, so the
      // winner's logging in and a loser's being refused show which one was set.
      const loser = won[0] === 0 ? 1 : 0;
      expect((await new Browser(t.url).post('/session', { email, password: `racing password number ${won[0]}` })).status).toBe(200);
      expect((await new Browser(t.url).post('/session', { email, password: `racing password number ${loser}` })).status).toBe(401);
    });

    it('when the database is read then it holds no usable link: only its SHA-256', async () => {
      const { token } = await linkFor();
      const rows = await t.system.db.selectFrom('app_password_resets').select('token_hash').execute();
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.some((r) => r.token_hash.includes(token))).toBe(false);
      expect(rows.every((r) => /^[0-9a-f]{64}$/.test(r.token_hash))).toBe(true);
    });
  });
});
