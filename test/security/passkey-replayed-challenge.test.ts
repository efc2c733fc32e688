// Threat: an answer to a passkey challenge captured once (a proxy log, a browser extension, a
// recorded request) is sent again, by many requests at once, or in another browser or session, to
// open a login or a step-up without the authenticator. Each challenge is single use (the DELETE
// that consumes it decides), lives 5 minutes, and is bound to the session or browser it was made for.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { passkeySecondFactor, startLocalhostSystem, userWithPasskey } from '../helpers/passkeys.js';
import type { TestSystem } from '../helpers/system.js';

forEachDatabase((kind) => {
  describe(`replayed passkey challenges on ${kind}`, () => {
    let t: TestSystem & { origin: string };
    beforeAll(async () => {
      t = await startLocalhostSystem({ db: kind });
    });
    afterAll(() => t.stop());

    it('when a sign-in answer is sent a second time then the copy is refused', async () => {
      const { auth } = await userWithPasskey(t, { counts: false });
      const b = new Browser(t.url);
      const opts = await b.post('/session/passkey-signin/options', {});
      const answer = auth.assert(opts.body.options as Record<string, unknown>);
      const cookie = b.passkeyCookie!;
      expect((await b.post('/session/passkey-signin', { response: answer })).body.state).toBe('logged_in');
      // Sent with the browser's sign-in cookie (the worst case): still refused.
      const replay = await new Browser(t.url).post('/session/passkey-signin', { response: answer }, { cookie });
      expect(replay).toMatchObject({ status: 400, body: { code: 'PASSKEY_INVALID' } });
    });

    it('when 12 requests carry one sign-in answer at the same moment then exactly one logs in', async () => {
      // An authenticator without a counter (0 every time): only the challenge stops the copies.
      const { auth } = await userWithPasskey(t, { counts: false });
      const b = new Browser(t.url);
      const opts = await b.post('/session/passkey-signin/options', {});
      const answer = auth.assert(opts.body.options as Record<string, unknown>);
      // Twelve browsers, each holding a copy of the sign-in cookie and of the answer.
      const cookie = b.passkeyCookie!;
      const results = await Promise.all(Array.from({ length: 12 }, () => new Browser(t.url).post('/session/passkey-signin', { response: answer }, { cookie })));
      expect(results.filter((r) => r.status === 200)).toHaveLength(1);
      for (const r of results) if (r.status !== 200) expect(r.body.code).toBe('PASSKEY_INVALID');
    });

    it('when a second-factor answer is replayed on a new login then it is refused (the challenge was that login\'s)', async () => {
      const { u, auth } = await userWithPasskey(t, { counts: false });
      const first = new Browser(t.url);
      await first.post('/session', { email: u.email, password: u.password });
      const opts = await first.post('/session/passkey/options', {});
      const answer = auth.assert(opts.body.options as Record<string, unknown>);
      expect((await first.post('/session/passkey', { response: answer })).body.state).toBe('logged_in');
      // Someone with the password and the recorded answer.
      const thief = new Browser(t.url);
      await thief.post('/session', { email: u.email, password: u.password });
      await thief.post('/session/passkey/options', {});
      expect((await thief.post('/session/passkey', { response: answer })).body.code).toBe('PASSKEY_INVALID');
      expect((await thief.get('/user')).status).toBe(401);
    });

    it("when one session's step-up challenge is answered in another session then it is refused", async () => {
      const x = await userWithPasskey(t, { counts: false });
      const other = new Browser(t.url);
      await other.post('/session', { email: x.u.email, password: x.u.password });
      expect((await passkeySecondFactor(other, x.auth)).body.state).toBe('logged_in');
      const opts = await x.b.post('/session/reauth/passkey/options', {});
      const answer = x.auth.assert(opts.body.options as Record<string, unknown>);
      await other.post('/session/reauth/passkey/options', {});
      expect((await other.post('/session/reauth/passkey', { response: answer })).body.code).toBe('PASSKEY_INVALID');
      // In its own session it works once, and a copy is refused.
      expect((await x.b.post('/session/reauth/passkey', { response: answer })).body.state).toBe('reauthenticated');
      expect((await x.b.post('/session/reauth/passkey', { response: answer })).body.code).toBe('PASSKEY_INVALID');
    });

    it('when a challenge is older than 5 minutes then its answer is refused', async () => {
      const { auth } = await userWithPasskey(t, { counts: false });
      const b = new Browser(t.url);
      const opts = await b.post('/session/passkey-signin/options', {});
      await t.system.db.updateTable('app_webauthn_challenges').set({ expires_at: Date.now() - 1 }).where('purpose', '=', 'signin').execute();
      expect((await b.post('/session/passkey-signin', { response: auth.assert(opts.body.options as Record<string, unknown>) })).body.code).toBe('PASSKEY_INVALID');
    });

    it('when the database is read then it holds only the SHA-256 of each waiting challenge', async () => {
      const b = new Browser(t.url);
      const opts = await b.post('/session/passkey-signin/options', {});
      const challenge = (opts.body.options as { challenge: string }).challenge;
      const rows = await t.system.db.selectFrom('app_webauthn_challenges').select('challenge_hash').execute();
      expect(rows.some((r) => r.challenge_hash.includes(challenge))).toBe(false);
      expect(rows.every((r) => /^[0-9a-f]{64}$/.test(r.challenge_hash))).toBe(true);
    });
  });
});
