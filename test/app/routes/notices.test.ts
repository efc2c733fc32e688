// Notices by email (src/app/account-mail.ts, `notify` in routes/kit.ts): each change to an account,
// a login from a new browser and a login ended by wrong codes mail the owner what happened, when,
// from which browser and address; none carries a link or a code.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../../helpers/system.js';
import { addTotpApp, awaitMail, Browser, expectNotice, latestSmsCode, mailTo, newUser, signUp, TestDevice } from '../helpers.js';

const FIREFOX = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:140.0) Gecko/20100101 Firefox/140.0';


forEachDatabase((kind) => {
  describe(`notices on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, env: { OTP_MAX_ATTEMPTS: '2' } });
    });
    afterAll(async () => {
      await t?.stop();
    });

    async function account(ua?: string) {
      const u = newUser();
      const b = new Browser(t.url, ua);
      await signUp(b, u);
      return { u, b };
    }

    it('when authenticators, apps and recovery codes are added and removed then each change mails its own notice', async () => {
      const { u, b } = await account(FIREFOX);
      const act = await b.post('/user/authenticators', {});
      expect(act.status).toBe(201);
      expectNotice(await awaitMail(t.url, u.email, 'An authenticator is being added'), 'Firefox on macOS');
      await TestDevice.activate(t.url, (act.body.activation as { link: string }).link);
      const devices = (await b.get('/user')).body.devices as { id: string }[];
      expect((await b.del(`/user/authenticators/${devices[0]!.id}`)).status).toBe(200);
      expectNotice(await awaitMail(t.url, u.email, 'An authenticator was removed'), 'Firefox on macOS');
      await addTotpApp(b);
      expectNotice(await awaitMail(t.url, u.email, 'An authenticator app was set up'), 'Firefox on macOS');
      const apps = (await b.get('/user')).body.totp_apps as { id: string }[];
      expect((await b.del(`/user/totp-app/${apps[0]!.id}`)).status).toBe(200);
      expectNotice(await awaitMail(t.url, u.email, 'An authenticator app was removed'), 'Firefox on macOS');
      expect((await b.post('/user/recovery-codes', {})).status).toBe(201);
      expectNotice(await awaitMail(t.url, u.email, 'New recovery codes were made'), 'Firefox on macOS');
    });

    it('when a login comes from a browser the account was never used from then a notice says so, and the same browser again sends none', async () => {
      const { u } = await account();
      const b = new Browser(t.url, FIREFOX);
      const login = async () => {
        expect((await b.post('/session', { email: u.email, password: u.password })).body.state).toBe('code');
        const { code } = await latestSmsCode(t.url, `+1${u.phone}`);
        expect((await b.post('/session/verify', { code })).status).toBe(200);
      };
      await login();
      expectNotice(await awaitMail(t.url, u.email, 'New login to your account'), 'Firefox on macOS');
      expect((await b.del('/session')).status).toBe(200);
      await login();
      await new Promise((r) => setTimeout(r, 300));
      expect((await mailTo(t.url, u.email)).filter((m) => m.subject.includes('New login'))).toHaveLength(1);
    });

    it('when the signup browser logs in again then no new-browser notice is sent', async () => {
      const { u, b } = await account();
      expect((await b.del('/session')).status).toBe(200);
      expect((await b.post('/session', { email: u.email, password: u.password })).body.state).toBe('code');
      const { code } = await latestSmsCode(t.url, `+1${u.phone}`);
      expect((await b.post('/session/verify', { code })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 300));
      expect((await mailTo(t.url, u.email)).filter((m) => m.subject.includes('New login'))).toEqual([]);
    });

    it('when a login is ended by wrong codes then the owner is told the password was right', async () => {
      const { u } = await account();
      const b = new Browser(t.url, FIREFOX);
      expect((await b.post('/session', { email: u.email, password: u.password })).status).toBe(200);
      expect((await b.post('/session/verify', { code: '000000' })).status).toBe(400);
      expect((await b.post('/session/verify', { code: '000001' })).status).toBe(403);
      const m = await awaitMail(t.url, u.email, 'Too many wrong codes');
      expectNotice(m, 'Firefox on macOS');
      expect(m.text).toContain('Your password was entered correctly');
    });

    it('when an account makes 25 changes within an hour then its owner gets 20 notices, and the drop is logged', async () => {
      const { u, b } = await account();
      for (let i = 0; i < 25; i++) expect((await b.post('/user/recovery-codes', {})).status).toBe(201);
      await awaitMail(t.url, u.email, 'New recovery codes were made', 20);
      await new Promise((r) => setTimeout(r, 300));
      expect((await mailTo(t.url, u.email)).filter((m) => m.subject.includes('New recovery codes'))).toHaveLength(20);
      expect(t.logs.some((l) => l.includes('notice dropped: too many to one address this hour'))).toBe(true);
    });

    it('when a recovery code logs in then the owner is told', async () => {
      const { u, b } = await account();
      const codes = (await b.post('/user/recovery-codes', {})).body.codes as string[];
      expect((await b.del('/session')).status).toBe(200);
      const other = new Browser(t.url, FIREFOX);
      expect((await other.post('/session', { email: u.email, password: u.password })).status).toBe(200);
      expect((await other.post('/session/recover', { code: codes[0] })).status).toBe(200);
      expectNotice(await awaitMail(t.url, u.email, 'A recovery code was used'), 'Firefox on macOS');
    });
  });
});
