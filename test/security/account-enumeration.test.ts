// Threat: learning which emails have accounts — from the status, body or response time of login,
// signup or resend — to target password guessing or phishing at real users.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, e164Of, latestSmsCode, newUser, signUp } from '../app/helpers.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshPgDatabase, killChild, serveChild, type ChildServer } from '../helpers/child-server.js';
import { forEachDatabase } from '../helpers/databases.js';
import { median } from './helpers.js';

const TRIES = 200;

interface Timed {
  status: number;
  body: string;
  ms: number;
  cookie: boolean;
}

async function timed(b: Browser, method: string, path: string, body: unknown, cookie: 'cookie' | 'signupCookie' = 'cookie'): Promise<Timed> {
  const had = b[cookie];
  const t0 = performance.now();
  const r = await b.request(method, path, body);
  const ms = performance.now() - t0;
  // The phone (as typed) and the expiry (a time) differ between any two signups.
  const { phone: _phone, expires_at: _expires, email: _email, ...same } = r.body;
  return { status: r.status, body: JSON.stringify(same), ms, cookie: b[cookie] !== had };
}

/** Distinct valid numbers, so that no two signups of a run share a phone (or its code). */
let nextPhone = 1000 + Math.floor(Math.random() * 4000);
const freshPhone = () => `201555${String(nextPhone++ % 10_000).padStart(4, '0')}`;

/** Run the two kinds interleaved (A, B, B, A, …) so that machine load hits both equally. */
async function interleave(n: number, a: (i: number) => Promise<Timed>, b: (i: number) => Promise<Timed>): Promise<[Timed[], Timed[]]> {
  const as: Timed[] = [];
  const bs: Timed[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 2) {
      as.push(await a(i));
      bs.push(await b(i));
    } else {
      bs.push(await b(i));
      as.push(await a(i));
    }
  }
  return [as, bs];
}

function report(kind: string, what: string, a: Timed[], b: Timed[], labels: [string, string]): number {
  const ma = median(a.map((x) => x.ms));
  const mb = median(b.map((x) => x.ms));
  console.log(`enumeration ${what} on ${kind}: median ${labels[0]} ${ma.toFixed(2)} ms, ${labels[1]} ${mb.toFixed(2)} ms, difference ${Math.abs(ma - mb).toFixed(2)} ms over ${a.length} tries each`);
  return Math.abs(ma - mb);
}

forEachDatabase((kind) => {
  describe(`account enumeration on ${kind}`, () => {
    // The server runs in its own process, as it would for an attacker across the network: an
    // in-process client would share the event loop and see work the server does after answering.
    let server: ChildServer;
    let t: { url: string };
    const dataDir = mkdtempSync(join(tmpdir(), 'twofold-enum-'));
    let dropDb: (() => Promise<void>) | undefined;
    const user = newUser();
    beforeAll(async () => {
      // The password limits are raised so that 400 tries from one address are all answered.
      // Every signup texts a code: the SMS per-IP cap is raised likewise.
      const env: Record<string, string> = { DATA_DIR: dataDir, LOG_LEVEL: 'info', LOGIN_PER_ACCOUNT_LIMIT: '100000', LOGIN_ACCOUNT_CEILING: '100000', LOGIN_PER_IP_LIMIT: '100000', SMS_PER_IP_LIMIT: '100000', CODE_PER_IP_LIMIT: '100000' };
      if (kind === 'postgres') {
        const db = await freshPgDatabase('tf_enum');
        env['DATABASE_URL'] = db.url;
        dropDb = db.drop;
      }
      server = await serveChild(env);
      t = { url: server.url };
      const b = new Browser(t.url);
      await signUp(b, user);
      expect((await b.del('/session')).status).toBe(200);
      // Warm both paths (JIT, prepared statements, the dummy hash).
      for (let i = 0; i < 5; i++) {
        await new Browser(t.url).post('/session', { email: user.email, password: 'not the password' });
        await new Browser(t.url).post('/session', { email: `warm${i}.${user.email}`, password: 'not the password' });
        await new Browser(t.url).post('/user', newUser({ phone: freshPhone() }));
        await new Browser(t.url).post('/user', newUser({ phone: freshPhone(), email: user.email }));
      }
    }, 60_000);
    afterAll(async () => {
      if (server) await killChild(server);
      await dropDb?.();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('when logging in with an unknown email or a wrong password then the status, body and median time are the same', async () => {
      const [wrong, unknown] = await interleave(
        TRIES,
        () => timed(new Browser(t.url), 'POST', '/session', { email: user.email, password: 'not the password' }),
        (i) => timed(new Browser(t.url), 'POST', '/session', { email: `ghost${i}.${randomBytes(3).toString('hex')}@example.com`, password: 'not the password' }),
      );
      for (const r of [...wrong, ...unknown]) {
        expect(r.status).toBe(401);
        expect(r.body).toBe(wrong[0]!.body);
        expect(r.cookie).toBe(false);
      }
      expect(report(kind, 'login', wrong, unknown, ['wrong password', 'unknown email'])).toBeLessThan(5);
    }, 120_000);

    it('when signing up with a taken email or a new one then the form\'s status, body and median time are the same', async () => {
      const [taken, fresh] = await interleave(
        TRIES,
        () => timed(new Browser(t.url), 'POST', '/user', newUser({ phone: freshPhone(), email: user.email }), 'signupCookie'),
        () => timed(new Browser(t.url), 'POST', '/user', newUser({ phone: freshPhone() }), 'signupCookie'),
      );
      for (const r of [...taken, ...fresh]) {
        expect(r.status).toBe(202);
        expect(r.body).toBe(fresh[0]!.body);
        expect(r.cookie).toBe(true);
      }
      expect(report(kind, 'signup form', taken, fresh, ['taken email', 'new email'])).toBeLessThan(5);
    }, 180_000);

    it('when the phone code of a taken email or a new one is entered then the status, body, cookie, median time and what the browser can ask next are the same', async () => {
      const TRIES_CODE = TRIES / 2;
      const verify = async (email?: string) => {
        const b = new Browser(t.url);
        const u = newUser({ phone: freshPhone(), ...(email ? { email } : {}) });
        expect((await b.post('/user', u)).status).toBe(202);
        const { code } = await latestSmsCode(t.url, e164Of(u));
        const r = await timed(b, 'POST', '/user/verify-phone', { code }, 'signupCookie');
        // What the browser can ask next answers alike too: no session, the same pending state.
        const { email: _email, expires_at: _expires, ...pendingState } = (await b.get('/user/signup')).body;
        return { ...r, body: `${r.body} ${(await b.get('/user')).status} ${JSON.stringify(pendingState)}` };
      };
      const [taken, fresh] = await interleave(TRIES_CODE, () => verify(user.email), () => verify());
      for (const r of [...taken, ...fresh]) {
        expect(r.status).toBe(202);
        expect(r.body).toBe(fresh[0]!.body);
        // The signup cookie is set again (for 24 hours) with the same token, for both alike.
        expect(r.cookie).toBe(false);
      }
      expect(fresh[0]!.body).toContain(' 401 ');
      expect(report(kind, 'signup phone code', taken, fresh, ['taken email', 'new email'])).toBeLessThan(5);
    }, 240_000);

    it('when resend is asked without a live login (an ended login of a real account, a forged cookie, none) then the same answer', async () => {
      const ended = new Browser(t.url);
      expect((await ended.post('/session', { email: user.email, password: user.password })).status).toBe(200);
      const endedCookie = ended.cookie;
      await ended.del('/session');
      const forged = () => {
        const b = new Browser(t.url);
        b.cookie = `twofold=${randomBytes(32).toString('base64url')}`;
        return b;
      };
      const old = () => {
        const b = new Browser(t.url);
        b.cookie = endedCookie;
        return b;
      };
      const [real, fake] = await interleave(
        TRIES,
        () => timed(old(), 'POST', '/session/resend', {}),
        () => timed(forged(), 'POST', '/session/resend', {}),
      );
      const none = await timed(new Browser(t.url), 'POST', '/session/resend', {});
      for (const r of [...real, ...fake, none]) {
        expect(r.status).toBe(401);
        expect(r.body).toBe(real[0]!.body);
      }
      expect(report(kind, 'resend', real, fake, ['ended login of a real account', 'forged cookie'])).toBeLessThan(5);
    }, 60_000);
  });
});
