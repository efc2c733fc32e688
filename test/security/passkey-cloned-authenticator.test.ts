// Threat: a passkey's private key copied out of its authenticator (a cloned security key, an
// exported software credential) is used beside the original. The authenticator's signature
// counter only moves forwards; the copy's lags behind the original's, so the first use of a
// counter at or below the last one seen marks the passkey as copied: that sign-in is refused, the
// owner is told and the audit trail records it, and the passkey is refused from then on, for the
// copy and the original alike, until its owner removes it. A counter that goes back within a
// challenge's life (5 minutes) of the last use may be two genuine tabs answered out of order: that
// answer alone is refused, and nothing is marked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitMail, Browser, latestSmsCode } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { passkeySecondFactor, passkeySignIn, startLocalhostSystem, userWithPasskey } from '../helpers/passkeys.js';
import type { TestSystem } from '../helpers/system.js';

forEachDatabase((kind) => {
  describe(`cloned passkey authenticators on ${kind}`, () => {
    let t: TestSystem & { origin: string };
    beforeAll(async () => {
      t = await startLocalhostSystem({ db: kind });
    });
    afterAll(() => t.stop());

    /** The copy is used later than the original's last use by more than a challenge's life. */
    const ageLastUse = (id: string) => t.system.db.updateTable('app_passkeys').set({ last_used_at: Date.now() - 6 * 60_000 }).where('id', '=', id).execute();

    it('when a copy signs with a counter lower than the last one seen then it is refused, marked, audited and announced', async () => {
      const { u, b, auth, passkey } = await userWithPasskey(t);
      const copy = auth.clone();
      // The original is used twice (counters 1 and 2); the copy still says 1.
      expect((await passkeySignIn(new Browser(t.url), auth)).body.state).toBe('logged_in');
      expect((await passkeySignIn(new Browser(t.url), auth)).body.state).toBe('logged_in');
      await ageLastUse(passkey.id);
      const thief = new Browser(t.url);
      const r = await passkeySignIn(thief, copy);
      expect(r).toMatchObject({ status: 403, body: { code: 'PASSKEY_CLONED' } });
      expect((await thief.get('/user')).status).toBe(401);
      const page = await b.get('/user');
      expect((page.body.passkeys as { cloned: boolean }[])[0]!.cloned).toBe(true);
      expect((page.body.events as { type: string }[]).some((e) => e.type === 'passkey_cloned')).toBe(true);
      expect((await awaitMail(t.url, u.email, 'may have been copied')).text).toMatch(/refused/);
    });

    it('when the passkey is marked as copied then the original is refused too, and the login offers it no more', async () => {
      const { u, auth, passkey } = await userWithPasskey(t);
      const copy = auth.clone();
      expect((await passkeySignIn(new Browser(t.url), auth)).body.state).toBe('logged_in');
      await ageLastUse(passkey.id);
      expect((await passkeySignIn(new Browser(t.url), copy)).body.code).toBe('PASSKEY_CLONED');
      expect((await passkeySignIn(new Browser(t.url), auth)).body.code).toBe('PASSKEY_CLONED');
      const b = new Browser(t.url);
      const login = await b.post('/session', { email: u.email, password: u.password });
      expect(login.body.passkey).toBe(false);
      expect((await passkeySecondFactor(b, auth)).status).toBe(404);
      // The phone still logs in.
      const { code } = await latestSmsCode(t.url, `+1${u.phone}`);
      expect((await b.post('/session/verify', { code })).body.state).toBe('logged_in');
    });

    it('when a counter equal to the last one is sent (a copy made just now) then it is refused too', async () => {
      const { auth, passkey } = await userWithPasskey(t);
      expect((await passkeySignIn(new Browser(t.url), auth)).body.state).toBe('logged_in');
      await ageLastUse(passkey.id);
      const same = auth.credentials[0]!.counter;
      expect((await passkeySignIn(new Browser(t.url), auth, { counter: same })).body.code).toBe('PASSKEY_CLONED');
    });

    it('when the original and a copy sign with the same new counter at the same moment then at most one signs in', async () => {
      const { auth } = await userWithPasskey(t);
      const copies = Array.from({ length: 8 }, () => auth.clone());
      // Each with its own challenge and browser, all saying counter 5.
      const browsers = copies.map(() => new Browser(t.url));
      const answers = await Promise.all(
        browsers.map(async (b, i) => {
          const opts = await b.post('/session/passkey-signin/options', {});
          return copies[i]!.assert(opts.body.options as Record<string, unknown>, { counter: 5 });
        }),
      );
      const results = await Promise.all(browsers.map((b, i) => b.post('/session/passkey-signin', { response: answers[i] })));
      expect(results.filter((r) => r.status === 200).length).toBeLessThanOrEqual(1);
      // The others went back within a challenge's life of the winner's use: refused one by one.
      for (const r of results) if (r.status !== 200) expect(['PASSKEY_CLONED', 'PASSKEY_INVALID']).toContain(r.body.code);
      expect(results.filter((r) => r.status !== 200).length).toBeGreaterThanOrEqual(7);
    });

    it('when two genuine sign-ins are answered out of order (two tabs) then the late one is refused and the passkey is not marked', async () => {
      const { b, auth } = await userWithPasskey(t);
      const tabs = [new Browser(t.url), new Browser(t.url)];
      const opts = await Promise.all(tabs.map((x) => x.post('/session/passkey-signin/options', {})));
      const first = auth.assert(opts[0]!.body.options as Record<string, unknown>);
      const second = auth.assert(opts[1]!.body.options as Record<string, unknown>);
      expect((await tabs[1]!.post('/session/passkey-signin', { response: second })).body.state).toBe('logged_in');
      expect(await tabs[0]!.post('/session/passkey-signin', { response: first })).toMatchObject({ status: 400, body: { code: 'PASSKEY_INVALID' } });
      expect(((await b.get('/user')).body.passkeys as { cloned: boolean }[])[0]!.cloned).toBe(false);
      expect((await passkeySignIn(new Browser(t.url), auth)).body.state).toBe('logged_in');
    });

    it('when the authenticator keeps no counter (always 0) then it is not taken for a copy (the check above can fail)', async () => {
      const { auth } = await userWithPasskey(t, { counts: false });
      for (let i = 0; i < 3; i++) expect((await passkeySignIn(new Browser(t.url), auth)).body.state).toBe('logged_in');
    });
  });
});
