// Threat: a browser that was told "don't ask again" keeps skipping the second factor after the
// owner has acted against whoever might hold it — reset or changed the password, changed a factor
// or the phone, ended every other session, removed it from the list — or after its 30 days; or a
// browser remembered for one account skips the second factor of another.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/platform/clock.js';
import { awaitMail, Browser, e164Of, latestSmsCode, newUser, resetTokenIn, signUp } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

forEachDatabase((kind) => {
  describe(`remembered browser revoked on ${kind}`, () => {
    let t: TestSystem;
    const clock = new ManualClock(Date.now());
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, clock });
    });
    afterAll(() => t.stop());

    /** An account, and a second browser logged in with an SMS code and "remember this browser", logged out again. */
    async function remembered() {
      const u = newUser();
      const owner = new Browser(t.url);
      await signUp(owner, u);
      const b = new Browser(t.url, 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0');
      expect((await b.post('/session', { email: u.email, password: u.password })).body.state).toBe('code');
      const { code } = await latestSmsCode(t.url, `+1${u.phone}`);
      const done = await b.post('/session/verify', { code, remember: true });
      expect(done).toMatchObject({ status: 200, body: { state: 'logged_in', remembered_until: expect.any(Number) } });
      expect(b.rememberCookie).toBeDefined();
      expect((await b.del('/session')).status).toBe(200);
      return { u, owner, b };
    }
    const skips = async (b: Browser, u: { email: string; password: string }) => (await b.post('/session', { email: u.email, password: u.password })).body.state === 'logged_in';

    it('when nothing changed then the remembered browser skips the second factor (the checks below can fail), and only with the right password', async () => {
      const { u, b } = await remembered();
      expect((await b.post('/session', { email: u.email, password: 'not the password' })).status).toBe(401);
      expect(await skips(b, u)).toBe(true);
      expect((await b.get('/user')).status).toBe(200);
    });

    it('when the password is reset then the remembered browser is asked for the second factor again', async () => {
      const { u, b } = await remembered();
      expect((await new Browser(t.url).post('/password/forgot', { email: u.email })).status).toBe(202);
      const token = resetTokenIn(await awaitMail(t.url, u.email, 'Reset your password'));
      expect((await new Browser(t.url).post('/password/reset', { token, password: 'a brand new passphrase' })).status).toBe(200);
      expect(await skips(b, { email: u.email, password: 'a brand new passphrase' })).toBe(false);
    });

    it('when a factor changes (new recovery codes) then the remembered browser is asked again', async () => {
      const { u, owner, b } = await remembered();
      expect((await owner.post('/user/recovery-codes', {})).status).toBe(201);
      expect(await skips(b, u)).toBe(false);
    });

    it('when the owner ends every other session then every remembered browser is forgotten', async () => {
      const { u, owner, b } = await remembered();
      expect(await owner.del('/user/sessions')).toMatchObject({ status: 200, body: { remembered_browsers_forgotten: 1 } });
      expect(await skips(b, u)).toBe(false);
    });

    it('when the owner removes the browser from the list then it is asked again; another account cannot remove it', async () => {
      const { u, owner, b } = await remembered();
      const list = (await owner.get('/user/remembered-browsers')).body.browsers as { id: string; browser: string }[];
      expect(list).toEqual([expect.objectContaining({ browser: 'Firefox on Windows', ip: '127.0.0.1' })]);
      const stranger = new Browser(t.url);
      await signUp(stranger, newUser());
      expect((await stranger.del(`/user/remembered-browsers/${list[0]!.id}`)).status).toBe(404);
      expect(await skips(b, u)).toBe(true);
      expect((await b.del('/session')).status).toBe(200);
      expect((await owner.del(`/user/remembered-browsers/${list[0]!.id}`)).status).toBe(200);
      expect(await skips(b, u)).toBe(false);
    });

    it('when the owner changes the password on the account page then every remembered browser is forgotten', async () => {
      const { u, owner, b } = await remembered();
      expect((await owner.post('/user/password', { current_password: u.password, password: 'a brand new passphrase' })).status).toBe(200);
      expect(await skips(b, { email: u.email, password: 'a brand new passphrase' })).toBe(false);
      expect((await owner.get('/user/remembered-browsers')).body.browsers).toEqual([]);
    });

    it('when the owner changes the phone then every remembered browser is forgotten', async () => {
      const { u, owner, b } = await remembered();
      const next = newUser().phone;
      expect((await owner.post('/user/phone', { countryCode: 'US', phone: next })).status).toBe(202);
      const { code } = await latestSmsCode(t.url, e164Of({ phone: next }));
      expect((await owner.post('/user/phone/verify', { code })).status).toBe(200);
      expect(await skips(b, u)).toBe(false);
      expect((await owner.get('/user/remembered-browsers')).body.browsers).toEqual([]);
    });

    it("when a browser remembered for one account logs in to another then the other's second factor is still asked", async () => {
      const { b } = await remembered();
      const other = newUser();
      await signUp(new Browser(t.url), other);
      expect(await skips(b, other)).toBe(false);
    });

    it('when the remembered browser comes back after 30 days then it is asked again', async () => {
      const { u, b } = await remembered();
      clock.advance(30 * 86_400_000 + 1000);
      expect(await skips(b, u)).toBe(false);
    });

    it('when the cookie is copied to a browser without the password then it opens nothing', async () => {
      const { u, b } = await remembered();
      const thief = new Browser(t.url);
      thief.rememberCookie = b.rememberCookie;
      expect((await thief.get('/user')).status).toBe(401);
      expect((await thief.post('/session', { email: u.email, password: 'a guess' })).status).toBe(401);
    });
  });
});
