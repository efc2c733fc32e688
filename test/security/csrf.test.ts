// Threat: cross-site request forgery — another site makes the victim's browser send a
// state-changing request that carries the session cookie (log in as the attacker, log out, add
// the attacker's authenticator, …); every such route must refuse it with 403 before doing anything.
import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, newUser, signUp } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

interface Layer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/** Every state-changing route of the web app, read from the running router (so none is missed). */
function stateChangingAppRoutes(app: Express): [string, string][] {
  const out: [string, string][] = [];
  const walk = (stack: Layer[]) => {
    for (const l of stack) {
      if (l.route) {
        for (const path of [l.route.path].flat()) {
          if (!/^\/(user|session)(\/|$)/.test(path)) continue;
          for (const m of Object.keys(l.route.methods)) if (['post', 'put', 'patch', 'delete'].includes(m)) out.push([m.toUpperCase(), path.replace(/:[a-z_]+/g, '00000000-0000-4000-8000-000000000000')]);
        }
      } else if (l.handle?.stack) walk(l.handle.stack);
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
  return out;
}

forEachDatabase((kind) => {
  describe(`CSRF on ${kind}`, () => {
    let t: TestSystem;
    let routes: [string, string][];
    let session = '';
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
      routes = stateChangingAppRoutes(t.system.app);
      const b = new Browser(t.url);
      await signUp(b, newUser());
      session = b.cookie!;
    });
    afterAll(() => t.stop());

    it('when the router is read then it lists every known state-changing route', () => {
      expect(routes).toEqual(
        expect.arrayContaining([
          ['POST', '/user'],
          ['POST', '/session'],
          ['POST', '/session/verify'],
          ['POST', '/session/resend'],
          ['POST', '/session/complete'],
          ['DELETE', '/session'],
          ['POST', '/user/authenticators'],
          ['DELETE', '/user/authenticators/00000000-0000-4000-8000-000000000000'],
          ['POST', '/user/totp-app'],
          ['POST', '/user/totp-app/confirm'],
        ]),
      );
    });

    /** One request as a logged-in victim's browser would send it, with these headers. */
    async function send(method: string, path: string, headers: Record<string, string>, body: string | Uint8Array) {
      const res = await fetch(`${t.url}${path}`, { method, headers: { cookie: session, ...headers }, body });
      const text = await res.text();
      return { status: res.status, code: (text.startsWith('{') ? (JSON.parse(text) as { code?: string }).code : undefined) ?? text, setCookie: res.headers.getSetCookie() };
    }

    it('when any state-changing route gets a text/plain body, no content type, a form, a foreign or a missing Origin then 403 CSRF, and no cookie is set', async () => {
      const json = JSON.stringify({ email: 'a@example.com', password: 'whatever whatever', code: '123456', name: 'x' });
      const cases: [string, Record<string, string>, string | Uint8Array][] = [
        ['text/plain body', { origin: t.url, 'content-type': 'text/plain' }, json],
        ['no content type', { origin: t.url }, new TextEncoder().encode(json)],
        ['form body', { origin: t.url, 'content-type': 'application/x-www-form-urlencoded' }, 'email=a%40example.com'],
        ['multipart', { origin: t.url, 'content-type': 'multipart/form-data; boundary=x' }, '--x--'],
        ['foreign Origin', { origin: 'https://attacker.example', 'content-type': 'application/json' }, json],
        ['null Origin', { origin: 'null', 'content-type': 'application/json' }, json],
        ['missing Origin', { 'content-type': 'application/json' }, json],
        ['look-alike Origin', { origin: `${t.url}.attacker.example`, 'content-type': 'application/json' }, json],
      ];
      const failures: string[] = [];
      await Promise.all(
        routes.flatMap(([method, path]) =>
          cases.map(async ([what, headers, body]) => {
            const r = await send(method, path, headers, body);
            if (r.status !== 403 || r.code !== 'CSRF' || r.setCookie.length) failures.push(`${method} ${path} with ${what}: ${r.status} ${r.code}`);
          }),
        ),
      );
      expect(failures).toEqual([]);
    });

    it('when cross-site requests were refused then the victim is still logged in and nothing was added', async () => {
      const b = new Browser(t.url);
      b.cookie = session;
      const me = await b.get('/user');
      expect(me.status).toBe(200);
      expect(me.body.devices).toEqual([]);
      const types = (me.body.events as { type: string }[]).map((e) => e.type);
      expect(types).not.toContain('logout');
      expect(types).not.toContain('device_activated');
    });

    it('when the same requests come from the site itself then they pass the CSRF check', async () => {
      const b = new Browser(t.url);
      b.cookie = session;
      const r = await b.post('/user/totp-app', {});
      expect(r.status).toBe(201);
    });
  });
});
