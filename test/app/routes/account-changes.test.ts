// Changes of password and email from the account page (src/app/routes/account-changes.ts):
// POST /user/password, POST /user/email, POST /user/email/confirm.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../../helpers/system.js';
import { awaitMail, Browser, latestSmsCode, mailTo, newUser, signUp, type SentMail } from '../helpers.js';
import { ageProof, expectError } from './fixtures.js';

const emailTokenIn = (m: SentMail) => {
  const token = /\/account\/email#token=([A-Za-z0-9_-]{43})/.exec(m.text)?.[1];
  if (!token) throw new Error(`no email change link in "${m.subject}"`);
  return token;
};

forEachDatabase((kind) => {
  describe(`account changes on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(async () => {
      await t?.stop();
    });

    /** An account, logged in in its signup browser (a fresh proof) and in a second one. */
    async function account() {
      const u = newUser();
      const b = new Browser(t.url);
      await signUp(b, u);
      const other = new Browser(t.url);
      expect((await other.post('/session', { email: u.email, password: u.password })).status).toBe(200);
      expect((await other.post('/session/verify', { code: (await latestSmsCode(t.url, `+1${u.phone}`)).code })).status).toBe(200);
      return { u, b, other };
    }

    it('when the password is changed then every other session ends, this one stays, the old password stops working and a notice goes out', async () => {
      const { u, b, other } = await account();
      const r = await b.post('/user/password', { current_password: u.password, password: 'a brand new passphrase' });
      expect(r).toMatchObject({ status: 200, body: { state: 'password_changed', sessions_ended: 1 } });
      expect((await other.get('/user')).status).toBe(401);
      expect((await b.get('/user')).status).toBe(200);
      expectError(await new Browser(t.url).post('/session', { email: u.email, password: u.password }), 401, 'INVALID_CREDENTIALS');
      expect((await new Browser(t.url).post('/session', { email: u.email, password: 'a brand new passphrase' })).body.state).toBe('code');
      const notice = await awaitMail(t.url, u.email, 'Your password was changed');
      expect(notice.text).not.toMatch(/https?:\/\//);
    });

    it('when the current password is wrong, the new one breaks the rules or is the same then 400 names the field and nothing changes', async () => {
      const { u, b, other } = await account();
      expectError(await b.post('/user/password', { current_password: 'not it at all', password: 'a brand new passphrase' }), 400, 'VALIDATION', { fields: { current_password: 'is not your current password' } });
      expectError(await b.post('/user/password', { current_password: u.password, password: 'password123' }), 400, 'VALIDATION', { fields: { password: expect.stringContaining('too common') } });
      expectError(await b.post('/user/password', { current_password: u.password, password: u.password }), 400, 'VALIDATION', { fields: { password: expect.stringContaining('current password') } });
      expectError(await b.post('/user/password', [1]), 400, 'VALIDATION', { fields: expect.any(Object) });
      expect((await other.get('/user')).status).toBe(200);
      expect((await new Browser(t.url).post('/session', { email: u.email, password: u.password })).status).toBe(200);
    });

    it('when the session proved itself more than 5 minutes ago then password and email changes ask to confirm it is you first', async () => {
      const { u, b } = await account();
      await ageProof(t, u.email);
      expectError(await b.post('/user/password', { current_password: u.password, password: 'a brand new passphrase' }), 403, 'REAUTH_REQUIRED', { reauth: '/session/reauth' });
      expectError(await b.post('/user/email', { email: `new-${Date.now()}@example.com` }), 403, 'REAUTH_REQUIRED', { reauth: '/session/reauth' });
      expectError(await new Browser(t.url).post('/user/password', { current_password: 'x', password: 'a brand new passphrase' }), 401, 'UNAUTHENTICATED');
    });

    it('when the email is changed then nothing moves until the link from the new mailbox is opened; then the new address logs in and the old one is told', async () => {
      const { u, b } = await account();
      const fresh = `moved-${Date.now()}@example.com`;
      expect(await b.post('/user/email', { email: fresh })).toMatchObject({ status: 202, body: { state: 'link_sent', email: fresh, expires_in_hours: 24 } });
      await awaitMail(t.url, u.email, 'A change of your email address was asked for');
      const token = emailTokenIn(await awaitMail(t.url, fresh, 'Confirm your new email address'));
      // Not yet: the old address still logs in.
      expect((await new Browser(t.url).post('/session', { email: u.email, password: u.password })).status).toBe(200);
      const done = await new Browser(t.url).post('/user/email/confirm', { token });
      expect(done).toMatchObject({ status: 200, body: { state: 'email_changed', email: fresh } });
      expect(((await b.get('/user')).body.user as { email: string }).email).toBe(fresh);
      expect((await new Browser(t.url).post('/session', { email: fresh, password: u.password })).status).toBe(200);
      expectError(await new Browser(t.url).post('/session', { email: u.email, password: u.password }), 401, 'INVALID_CREDENTIALS');
      await awaitMail(t.url, u.email, 'Your email address was changed');
      expectError(await new Browser(t.url).post('/user/email/confirm', { token }), 400, 'EMAIL_LINK_INVALID');
    });

    it('when the password is changed, or every other session ended, after an email change was asked for then its link no longer works', async () => {
      for (const end of ['password', 'sessions'] as const) {
        const { u, b } = await account();
        const elsewhere = `intruder-${end}-${Date.now()}@example.com`;
        expect((await b.post('/user/email', { email: elsewhere })).status).toBe(202);
        const token = emailTokenIn(await awaitMail(t.url, elsewhere, 'Confirm your new email address'));
        if (end === 'password') expect((await b.post('/user/password', { current_password: u.password, password: 'a brand new passphrase' })).status).toBe(200);
        else expect((await b.del('/user/sessions')).status).toBe(200);
        expectError(await new Browser(t.url).post('/user/email/confirm', { token }), 400, 'EMAIL_LINK_INVALID');
        expect(((await b.get('/user')).body.user as { email: string }).email).toBe(u.email);
      }
    });

    it("when the new address is another account's then the answer is the same but no link goes out", async () => {
      const { b } = await account();
      const { u: owner } = await account();
      expect(await b.post('/user/email', { email: owner.email })).toMatchObject({ status: 202, body: { state: 'link_sent' } });
      await new Promise((r) => setTimeout(r, 300));
      expect((await mailTo(t.url, owner.email)).filter((m) => m.subject.includes('Confirm your new email address'))).toEqual([]);
    });

    it('when the new address is taken between the link and its opening then 409 EMAIL_TAKEN and the account keeps its address', async () => {
      const { u, b } = await account();
      const wanted = `wanted-${Date.now()}@example.com`;
      expect((await b.post('/user/email', { email: wanted })).status).toBe(202);
      const token = emailTokenIn(await awaitMail(t.url, wanted, 'Confirm your new email address'));
      await signUp(new Browser(t.url), newUser({ email: wanted }));
      expectError(await new Browser(t.url).post('/user/email/confirm', { token }), 409, 'EMAIL_TAKEN');
      expect(((await b.get('/user')).body.user as { email: string }).email).toBe(u.email);
    });

    it('when the email request is malformed, the same address, or the link unknown then 400', async () => {
      const { u, b } = await account();
      expectError(await b.post('/user/email', { email: 'nope' }), 400, 'VALIDATION', { fields: { email: expect.any(String) } });
      expectError(await b.post('/user/email', { email: u.email.toUpperCase() }), 400, 'VALIDATION', { fields: { email: 'is already your address' } });
      expectError(await b.post('/user/email/confirm', { token: 'A'.repeat(43) }), 400, 'EMAIL_LINK_INVALID');
      expectError(await b.post('/user/email/confirm', { token: 'short' }), 400, 'VALIDATION', { fields: { token: expect.any(String) } });
    });
  });
});
