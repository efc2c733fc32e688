// Threat: the session cookie (or a pending signup's) leaks or is planted — sent over plain http, read by script, sent on
// cross-site requests, or overwritten from a sibling subdomain — because of missing attributes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, e164Of, newUser, outboxFileCode, outboxFileSignupToken } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { totpAt } from './helpers.js';

const ORIGIN = 'https://twofold.example';

/** Every attribute a production session cookie must have (and a cleared one too). */
function expectHostCookie(setCookie: string[], what: string) {
  expect(setCookie.length, what).toBeGreaterThan(0);
  for (const c of setCookie) {
    const [pair, ...attrs] = c.split(';').map((x) => x.trim());
    expect(pair, what).toMatch(/^__Host-twofold(-signup|-browser)?=([A-Za-z0-9_-]{43})?$/);
    const names = attrs.map((a) => a.split('=')[0]!.toLowerCase());
    expect(names, what).toContain('secure');
    expect(names, what).toContain('httponly');
    expect(attrs, what).toContain('SameSite=Lax');
    expect(attrs, what).toContain('Path=/');
    expect(names, what).not.toContain('domain');
  }
}

forEachDatabase((kind) => {
  describe(`session cookie flags in production on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, env: { NODE_ENV: 'production', PUBLIC_URL: ORIGIN } });
    });
    afterAll(() => t.stop());

    async function post(path: string, body: unknown, cookie?: string) {
      const res = await fetch(`${t.url}${path}`, {
        method: path === '/session' && body === null ? 'DELETE' : 'POST',
        headers: { 'content-type': 'application/json', origin: ORIGIN, ...(cookie ? { cookie } : {}) },
        body: JSON.stringify(body ?? {}),
      });
      const set = res.headers.getSetCookie();
      const value = set.map((c) => c.split(';')[0]!).find((c) => /^__Host-twofold=./.test(c));
      return { status: res.status, body: (await res.json()) as Record<string, unknown>, set, cookie: value };
    }

    it('when a session cookie is set, rotated or cleared then it is __Host-, Secure, HttpOnly, SameSite=Lax, Path=/ and has no Domain', async () => {
      const u = newUser();
      const form = await post('/user', u);
      expect(form.status).toBe(202);
      expectHostCookie(form.set, 'signup form');
      const pendingCookie = form.set[0]!.split(';')[0]!;
      expect(pendingCookie).toMatch(/^__Host-twofold-signup=/);
      const phoneCode = outboxFileCode(t.dataDir, e164Of(u));
      const phone = await post('/user/verify-phone', { code: phoneCode }, pendingCookie);
      expect(phone.status).toBe(202);
      expectHostCookie(phone.set, 'signup phone step');
      const link = await outboxFileSignupToken(t.dataDir, u.email);
      const signup = await post('/user/verify-email', { token: link }, pendingCookie);
      expect(signup.status).toBe(201);
      expectHostCookie(signup.set, 'signup');
      // The pending signup's cookie is cleared as the session's is set.
      expect(signup.set.some((c) => /^__Host-twofold-signup=;/.test(c))).toBe(true);
      // The authenticator-app secret, to log in with a code.
      const secretRes = await post('/user/totp-app', {}, signup.cookie);
      expect(secretRes.status).toBe(201);
      const secret = new URL(String(secretRes.body.uri)).searchParams.get('secret')!;
      // Confirmed with the previous step's code, so the current one is free for the login below.
      expect((await post('/user/totp-app/confirm', { code: totpAt(secret, Date.now() - 30_000) }, signup.cookie)).status).toBe(200);
      const logout = await post('/session', null, signup.cookie);
      expect(logout.status).toBe(200);
      expectHostCookie(logout.set, 'logout');
      expect(logout.set[0]).toMatch(/Expires=Thu, 01 Jan 1970|Max-Age=0/);
      const password = await post('/session', { email: u.email, password: u.password });
      expect(password.status).toBe(200);
      expectHostCookie(password.set, 'password step');
      const code = await post('/session/verify', { code: totpAt(secret, Date.now()) }, password.cookie);
      expect(code.status).toBe(200);
      expectHostCookie(code.set, 'second factor');
      // The production cookie name is the only one read: the same token under the plain name is
      // no session.
      const token = code.cookie!.split('=')[1]!;
      const plain = new Browser(t.url);
      plain.cookie = `twofold=${token}`;
      expect((await plain.get('/user')).status).toBe(401);
      const host = new Browser(t.url);
      host.cookie = `__Host-twofold=${token}`;
      expect((await host.get('/user')).status).toBe(200);
    });

    it('when a taken email and a new one pass the phone step then their cookies are the same, with the same flags', async () => {
      const u = newUser();
      const phoneStep = async (form: ReturnType<typeof newUser>) => {
        const first = await post('/user', form);
        expect(first.status).toBe(202);
        const code = outboxFileCode(t.dataDir, e164Of(form));
        return post('/user/verify-phone', { code }, first.set[0]!.split(';')[0]!);
      };
      expect((await phoneStep(u)).status).toBe(202);
      const token = await outboxFileSignupToken(t.dataDir, u.email);
      expect((await post('/user/verify-email', { token, password: u.password })).status).toBe(201);
      const again = await phoneStep(newUser({ email: u.email }));
      const fresh = await phoneStep(newUser());
      expect(again.status).toBe(202);
      expectHostCookie(again.set, 'duplicate signup');
      const shape = (set: string[]) => set.map((c) => c.replace(/=[A-Za-z0-9_-]{43}/, '=<token>').replace(/Expires=[^;]+/, 'Expires=<t>'));
      expect(shape(again.set)).toEqual(shape(fresh.set));
    });
  });
});
