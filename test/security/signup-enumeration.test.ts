// Threat: learning which emails have accounts by signing up with them. Before signup finished by
// email, a duplicate signup answered like a new one, but the next `GET /user` gave 200 for every
// new email and 401 for every existing one. Now both are told a link was mailed, and only the
// mailbox learns which it was: a link for a new address, a notice for a taken one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitMail, Browser, e164Of, expectNotice, latestSmsCode, mailTo, newUser, signUp } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

const RUNS = 20;

interface Seen {
  steps: string[];
  cookies: string[];
}

forEachDatabase((kind) => {
  describe(`signup enumeration on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(() => t.stop());

    /** Everything a person signing up with `email` can see, step by step, with times and tokens masked. */
    async function signUpAs(email: string): Promise<Seen> {
      const b = new Browser(t.url);
      const u = newUser({ email });
      const steps: string[] = [];
      const cookies: string[] = [];
      const note = (label: string, r: { status: number; body: Record<string, unknown>; headers: Headers }) => {
        const { phone: _p, expires_at: _e, email: _m, ...body } = r.body;
        steps.push(`${label} ${r.status} ${JSON.stringify(body)}`);
        cookies.push(...r.headers.getSetCookie().map((c) => c.replace(/=[A-Za-z0-9_-]{43}/, '=<token>').replace(/Expires=[^;]+/i, 'Expires=<t>')));
      };
      note('form', await b.post('/user', u));
      note('state', await b.get('/user/signup'));
      const { code } = await latestSmsCode(t.url, e164Of(u));
      note('phone', await b.post('/user/verify-phone', { code }));
      note('state', await b.get('/user/signup'));
      note('user', await b.get('/user'));
      note('resend', await b.post('/user/resend-email', {}));
      note('login', await new Browser(t.url).post('/session', { email, password: u.password }));
      return { steps, cookies };
    }

    it(`when ${RUNS} new and ${RUNS} taken emails sign up then every step, status, body and cookie is the same, and no follow-up tells them apart`, async () => {
      const owners = [];
      for (let i = 0; i < RUNS; i++) {
        const u = newUser();
        await signUp(new Browser(t.url), u);
        owners.push(u);
      }
      const taken: Seen[] = [];
      const fresh: Seen[] = [];
      for (let i = 0; i < RUNS; i++) {
        taken.push(await signUpAs(owners[i]!.email));
        fresh.push(await signUpAs(newUser().email));
      }
      const reference = JSON.stringify(fresh[0]);
      for (const seen of [...taken, ...fresh]) expect(JSON.stringify(seen)).toBe(reference);
      // The old tell: `GET /user` after the phone code.
      expect(fresh[0]!.steps.find((s) => s.startsWith('user '))).toMatch(/^user 401 /);
      // Only the mailboxes differ: each owner got a notice and no new link; each new address a link.
      for (const o of owners) {
        await awaitMail(t.url, o.email, 'Someone tried to sign up with your address');
        expect((await mailTo(t.url, o.email)).filter((m) => m.subject.includes('Confirm your email address'))).toHaveLength(1);
      }
    }, 120_000);

    it('when a taken address signs up then the notice to its owner says what happened and from where, and carries no link, no code and no token', async () => {
      const owner = newUser();
      await signUp(new Browser(t.url), owner);
      const b = new Browser(t.url);
      const u = newUser({ email: owner.email });
      expect((await b.post('/user', u)).status).toBe(202);
      const { code } = await latestSmsCode(t.url, e164Of(u));
      expect((await b.post('/user/verify-phone', { code })).status).toBe(202);
      const m = await awaitMail(t.url, owner.email, 'Someone tried to sign up with your address');
      // Nothing in it finishes the signup or logs anyone in.
      expectNotice(m, 'Chrome on Linux');
      expect(`${m.text}\n${m.html}`).not.toContain(code);
      expect(`${m.text}\n${m.html}`).not.toMatch(/[A-Za-z0-9_-]{43}/);
    });
  });
});
