// Change of phone from the account page (src/app/routes/account-phone.ts): POST /user/phone,
// POST /user/phone/verify, and the service's POST /protected/json/users/{id}/phone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../../helpers/system.js';
import { addTotpApp, awaitMail, Browser, e164Of, latestSmsCode, newUser, signUp } from '../helpers.js';
import { ageProof, expectError, otherCode } from './fixtures.js';

forEachDatabase((kind) => {
  describe(`change of phone on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(async () => {
      await t?.stop();
    });

    async function account() {
      const u = newUser();
      const b = new Browser(t.url);
      await signUp(b, u);
      return { u, b, next: newUser().phone };
    }

    it('when a new number is proved by its code then the account and its service user move to it, authenticators stay, text codes go there, and the owner is told', async () => {
      const { u, b, next } = await account();
      await addTotpApp(b);
      const start = await b.post('/user/phone', { countryCode: 'US', phone: next });
      expect(start).toMatchObject({ status: 202, body: { state: 'verify_phone', phone: expect.stringContaining('201'), attempts_left: 5 } });
      const { code } = await latestSmsCode(t.url, e164Of({ phone: next }));
      expect(await b.post('/user/phone/verify', { code })).toMatchObject({ status: 200, body: { state: 'phone_changed' } });
      const me = (await b.get('/user')).body;
      expect((me.user as { phone: string }).phone).toBe(next);
      expect(me.totp_apps as unknown[]).toHaveLength(1);
      const { authy_id } = await t.system.db.selectFrom('app_users').select('authy_id').where('email', '=', u.email).executeTakeFirstOrThrow();
      const serviceUser = await t.system.db.selectFrom('verify_users').select('phone_e164').where('id', '=', authy_id!).executeTakeFirstOrThrow();
      expect(serviceUser.phone_e164).toBe(e164Of({ phone: next }));
      const notice = await awaitMail(t.url, u.email, 'Your phone number was changed');
      expect(notice.text).not.toMatch(/https?:\/\//);
      // A login's text goes to the new number.
      const before = await latestSmsCode(t.url, e164Of({ phone: next }));
      const login = new Browser(t.url);
      expect((await login.post('/session', { email: u.email, password: u.password })).status).toBe(200);
      const texted = await login.post('/session/resend', {});
      // The login texts at once, or on request; either way to the new number.
      expect([200, 429]).toContain(texted.status);
      const sent = await latestSmsCode(t.url, e164Of({ phone: next }));
      expect(sent.count).toBe(before.count + 1);
      expect((await login.post('/session/verify', { code: sent.code })).status).toBe(200);
    });

    it('when wrong codes are typed then the tries count down, and the fifth ends the change with nothing moved', async () => {
      const { u, b, next } = await account();
      expect((await b.post('/user/phone', { countryCode: 'US', phone: next })).status).toBe(202);
      const { code } = await latestSmsCode(t.url, e164Of({ phone: next }));
      for (const left of [4, 3, 2, 1]) expectError(await b.post('/user/phone/verify', { code: otherCode(code) }), 400, 'CODE_INVALID', { attempts_left: left });
      expectError(await b.post('/user/phone/verify', { code: otherCode(code) }), 403, 'TOO_MANY_ATTEMPTS');
      expectError(await b.post('/user/phone/verify', { code }), 409, 'PHONE_CHANGE_EXPIRED');
      expect(((await b.get('/user')).body.user as { phone: string }).phone).toBe(u.phone);
    });

    it('when the right code is sent 5 times at once then the phone changes once and the others are refused', async () => {
      const { b, next } = await account();
      expect((await b.post('/user/phone', { countryCode: 'US', phone: next })).status).toBe(202);
      const { code } = await latestSmsCode(t.url, e164Of({ phone: next }));
      const answers = await Promise.all(Array.from({ length: 5 }, () => b.post('/user/phone/verify', { code })));
      expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
      expect(answers.every((a) => a.status === 200 || (a.status >= 400 && a.status < 500))).toBe(true);
    });

    it('when a code was texted to the old number before the change then it no longer logs in', async () => {
      const { u, b, next } = await account();
      const login = new Browser(t.url);
      expect((await login.post('/session', { email: u.email, password: u.password })).body.state).toBe('code');
      const old = await latestSmsCode(t.url, e164Of(u));
      expect((await b.post('/user/phone', { countryCode: 'US', phone: next })).status).toBe(202);
      expect((await b.post('/user/phone/verify', { code: (await latestSmsCode(t.url, e164Of({ phone: next }))).code })).status).toBe(200);
      expectError(await login.post('/session/verify', { code: old.code }), 400, 'CODE_INVALID', { attempts_left: expect.any(Number) });
    });

    it('when one account asks for codes to 6 new numbers within an hour then the sixth is 429', async () => {
      const { b } = await account();
      for (let i = 0; i < 5; i++) expect((await b.post('/user/phone', { countryCode: 'US', phone: newUser().phone })).status).toBe(202);
      expectError(await b.post('/user/phone', { countryCode: 'US', phone: newUser().phone }), 429, 'RATE_LIMITED', { retry_after: expect.any(Number) });
    });

    it('when the request is stale, the same number, invalid or has no change waiting then 403, 400 or 409', async () => {
      const { u, b, next } = await account();
      expectError(await b.post('/user/phone/verify', { code: '123456' }), 409, 'PHONE_CHANGE_EXPIRED');
      expectError(await b.post('/user/phone', { countryCode: 'US', phone: u.phone }), 400, 'VALIDATION', { fields: { phone: 'is already your number' } });
      expectError(await b.post('/user/phone', { countryCode: 'US', phone: '12' }), 400, 'VALIDATION', { fields: { phone: expect.any(String) } });
      expectError(await b.post('/user/phone', [1]), 400, 'VALIDATION', { fields: expect.any(Object) });
      expectError(await b.post('/user/phone', { countryCode: '999', phone: '12345' }), 400, 'VALIDATION', { fields: { phone: expect.any(String) } });
      expectError(await b.post('/user/phone/verify', { code: 'abc' }), 400, 'VALIDATION', { fields: { code: expect.any(String) } });
      await ageProof(t, u.email);
      expectError(await b.post('/user/phone', { countryCode: 'US', phone: next }), 403, 'REAUTH_REQUIRED', { reauth: '/session/reauth' });
      expectError(await new Browser(t.url).post('/user/phone', { countryCode: 'US', phone: next }), 401, 'UNAUTHENTICATED');
    });
  });
});
