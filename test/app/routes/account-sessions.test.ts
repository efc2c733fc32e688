// The account's sessions (src/app/routes/account-sessions.ts): GET /user/sessions,
// DELETE /user/sessions/{id}, DELETE /user/sessions.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../../helpers/system.js';
import { Browser, eventually, latestSmsCode, newUser, signUp } from '../helpers.js';
import { expectError, passwordStep, pendingFor, userWithDevice } from './fixtures.js';

const FIREFOX = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0';

interface Listed {
  id: string;
  browser: string;
  ip: string | null;
  created_at: number;
  last_seen_at: number;
  current: boolean;
}

forEachDatabase((kind) => {
  describe(`account sessions on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(async () => {
      await t?.stop();
    });

    /** An account logged in in its signup browser and in a second one (Firefox). */
    async function twoBrowsers() {
      const u = newUser();
      const a = new Browser(t.url);
      await signUp(a, u);
      const b = new Browser(t.url, FIREFOX);
      expect((await b.post('/session', { email: u.email, password: u.password })).status).toBe(200);
      const { code } = await latestSmsCode(t.url, `+1${u.phone}`);
      expect((await b.post('/session/verify', { code })).status).toBe(200);
      return { u, a, b };
    }
    const list = async (b: Browser) => {
      const r = await b.get('/user/sessions');
      expect(r.status).toBe(200);
      return r.body.sessions as Listed[];
    };

    it('when an account is logged in in two browsers then each lists both, with browser, IP and times, and marks its own', async () => {
      const { a, b } = await twoBrowsers();
      const fromA = await list(a);
      expect(fromA).toHaveLength(2);
      expect(fromA.map((s) => s.browser).sort()).toEqual(['Chrome on Linux', 'Firefox on Windows']);
      expect(fromA.every((s) => s.ip === '127.0.0.1' && /^[A-Za-z0-9_-]{22}$/.test(s.id) && s.created_at <= s.last_seen_at)).toBe(true);
      expect(fromA.find((s) => s.current)?.browser).toBe('Chrome on Linux');
      expect((await list(b)).find((s) => s.current)?.browser).toBe('Firefox on Windows');
      // The ids say nothing of the tokens.
      for (const s of fromA) for (const c of [a.cookie!, b.cookie!]) expect(c).not.toContain(s.id);
    });

    it('when one session is ended from another then that browser is logged out at once and the list shrinks', async () => {
      const { a, b } = await twoBrowsers();
      const other = (await list(a)).find((s) => !s.current)!;
      expect(await a.del(`/user/sessions/${other.id}`)).toMatchObject({ status: 200, body: { ended: other.id, current: false } });
      expect((await b.get('/user')).status).toBe(401);
      expect((await list(a)).map((s) => s.id)).not.toContain(other.id);
      expectError(await a.del(`/user/sessions/${other.id}`), 404, 'NOT_FOUND');
    });

    it('when "end all other sessions" is used then every other session ends, a login in progress too, and this one stays', async () => {
      const { u, a, b } = await twoBrowsers();
      const midLogin = new Browser(t.url);
      expect((await midLogin.post('/session', { email: u.email, password: u.password })).status).toBe(200);
      expect(await a.del('/user/sessions')).toMatchObject({ status: 200, body: { ended: 2 } });
      expect((await b.get('/user')).status).toBe(401);
      const { code } = await latestSmsCode(t.url, `+1${u.phone}`);
      expect((await midLogin.post('/session/verify', { code })).status).toBe(401);
      expect((await a.get('/user')).status).toBe(200);
      expect(await list(a)).toHaveLength(1);
    });

    it('when a browser ends its own session from the list then it is logged out and its cookie cleared', async () => {
      const { a } = await twoBrowsers();
      const mine = (await list(a)).find((s) => s.current)!;
      const r = await a.del(`/user/sessions/${mine.id}`);
      expect(r).toMatchObject({ status: 200, body: { current: true } });
      expect((await a.get('/user')).status).toBe(401);
    });

    it("when an account names another account's session then 404 and that session lives on", async () => {
      const one = await twoBrowsers();
      const two = await twoBrowsers();
      const theirs = (await list(two.a)).find((s) => s.current)!;
      expectError(await one.a.del(`/user/sessions/${theirs.id}`), 404, 'NOT_FOUND');
      expect((await two.a.get('/user')).status).toBe(200);
    });

    it('when the requests are malformed, half-logged-in or cross-site then 400, 401 or 403, and nothing ends', async () => {
      const { u, a, b } = await twoBrowsers();
      expectError(await a.del('/user/sessions/not-an-id'), 400, 'VALIDATION');
      expectError(await a.del('/user/sessions', [1]), 400, 'VALIDATION', { fields: expect.any(Object) });
      const half = new Browser(t.url);
      expect((await half.post('/session', { email: u.email, password: u.password })).status).toBe(200);
      expectError(await half.get('/user/sessions'), 401, 'UNAUTHENTICATED');
      expectError(await half.del('/user/sessions'), 401, 'UNAUTHENTICATED');
      a.origin = 'https://evil.example';
      expectError(await a.del('/user/sessions'), 403, 'CSRF');
      expect((await b.get('/user')).status).toBe(200);
      expectError(await new Browser(t.url).get('/user/sessions'), 401, 'UNAUTHENTICATED');
    });
  });

  describe(`remembered browsers on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(async () => {
      await t?.stop();
    });

    async function halfLogin() {
      const u = newUser();
      await signUp(new Browser(t.url), u);
      const b = new Browser(t.url);
      expect((await b.post('/session', { email: u.email, password: u.password })).body.state).toBe('code');
      return { u, b, code: (await latestSmsCode(t.url, `+1${u.phone}`)).code };
    }

    it('when "remember" is not true or false then 400 VALIDATION and the code is not spent', async () => {
      const { b, code } = await halfLogin();
      expectError(await b.post('/session/verify', { code, remember: 'yes' }), 400, 'VALIDATION', { fields: { remember: expect.any(String) } });
      expectError(await b.post('/session/complete', { remember: 1 }), 400, 'VALIDATION', { fields: { remember: expect.any(String) } });
      expectError(await b.post('/session/recover', { code: 'abcde-12345', remember: null }), 400, 'VALIDATION', { fields: { remember: expect.any(String) } });
      expect((await b.post('/session/verify', { code })).status).toBe(200);
      expect(b.rememberCookie).toBeUndefined();
    });

    it('when a login is remembered then the next one is the password alone, HttpOnly and 30 days, but a factor change still asks to confirm it is you', async () => {
      const { u, b, code } = await halfLogin();
      const r = await b.post('/session/verify', { code, remember: true });
      expect(r.status).toBe(200);
      const cookie = r.headers.getSetCookie().find((c) => c.startsWith('twofold-remember='))!;
      expect(cookie).toMatch(/HttpOnly/i);
      expect(cookie).toMatch(/SameSite=Lax/i);
      expect(cookie).toMatch(/Max-Age=2592000/);
      expect((await b.del('/session')).status).toBe(200);
      const again = await b.post('/session', { email: u.email, password: u.password });
      expect(again).toMatchObject({ status: 200, body: { state: 'logged_in', return_to: '/account' } });
      expect((await b.get('/user')).status).toBe(200);
      expectError(await b.post('/user/recovery-codes', {}), 403, 'REAUTH_REQUIRED', { reauth: '/session/reauth' });
      const listed = (await b.get('/user/remembered-browsers')).body.browsers as { expires_at: number; created_at: number }[];
      expect(listed).toHaveLength(1);
      expect(listed[0]!.expires_at - listed[0]!.created_at).toBe(30 * 86_400_000);
    });

    it('when a push approval is completed with "remember" then that browser\'s next login is the password alone, and no approval is asked', async () => {
      const { u, device } = await userWithDevice(t);
      const { b, number } = await passwordStep(t, u);
      const [req] = await pendingFor(device, 1);
      expect((await device.answer(req!, 'approve', number)).status).toBe(200);
      // The service's callback records the answer on the login shortly after.
      await eventually(async () => (await b.get('/authy/status')).body.status === 'approved');
      expect(await b.post('/session/complete', { remember: true })).toMatchObject({ status: 200, body: { state: 'logged_in', remembered_until: expect.any(Number) } });
      expect(b.rememberCookie).toBeDefined();
      expect((await b.del('/session')).status).toBe(200);
      expect(await b.post('/session', { email: u.email, password: u.password })).toMatchObject({ status: 200, body: { state: 'logged_in' } });
      expect((await b.get('/user')).status).toBe(200);
      expect(await device.pending()).toEqual([]);
      // Another browser is still asked.
      expect((await new Browser(t.url).post('/session', { email: u.email, password: u.password })).body.state).toBe('approve');
    });

    it('when a recovery code logs in with "remember" then that browser\'s next login is the password alone', async () => {
      const u = newUser();
      const owner = new Browser(t.url);
      await signUp(owner, u);
      const codes = (await owner.post('/user/recovery-codes', {})).body.codes as string[];
      const b = new Browser(t.url, FIREFOX);
      expect((await b.post('/session', { email: u.email, password: u.password })).body.state).toBe('code');
      expect(await b.post('/session/recover', { code: codes[0], remember: true })).toMatchObject({ status: 200, body: { state: 'logged_in', remembered_until: expect.any(Number) } });
      expect(b.rememberCookie).toBeDefined();
      expect((await b.del('/session')).status).toBe(200);
      expect(await b.post('/session', { email: u.email, password: u.password })).toMatchObject({ status: 200, body: { state: 'logged_in' } });
      expect((await owner.get('/user/remembered-browsers')).body.browsers).toEqual([expect.objectContaining({ browser: 'Firefox on Windows' })]);
    });

    it('when a step-up asks to remember then nothing is remembered', async () => {
      const { u, b, code } = await halfLogin();
      expect((await b.post('/session/verify', { code })).status).toBe(200);
      expect((await b.post('/session/reauth', { password: u.password })).body.state).toBe('code');
      await new Promise((r) => setTimeout(r, 50));
      const again = (await latestSmsCode(t.url, `+1${u.phone}`)).code;
      expect((await b.post('/session/verify', { code: again, remember: true })).body.state).toBe('reauthenticated');
      expect(b.rememberCookie).toBeUndefined();
      expect((await b.get('/user/remembered-browsers')).body.browsers).toEqual([]);
    });

    it('when a remembered browser id is malformed or unknown then 400 or 404', async () => {
      const { b, code } = await halfLogin();
      expect((await b.post('/session/verify', { code })).status).toBe(200);
      expectError(await b.del('/user/remembered-browsers/nope'), 400, 'VALIDATION');
      expectError(await b.del(`/user/remembered-browsers/${'A'.repeat(22)}`), 404, 'NOT_FOUND');
      expectError(await new Browser(t.url).get('/user/remembered-browsers'), 401, 'UNAUTHENTICATED');
    });
  });
});
