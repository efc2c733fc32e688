// Threat: a phishing site (another origin, or another domain's relying-party ID) relays the
// victim's passkey ceremony: the victim's authenticator signs for the page it is on, and the
// attacker forwards that answer to Twofold. A passkey is bound to this site's origin and RP ID
// (from PUBLIC_URL, never from headers a proxy or client can set), so the answer is refused and
// nothing opens: no session, no step-up, no new passkey.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, newUser, signUp } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { passkeySecondFactor, startLocalhostSystem, userWithPasskey } from '../helpers/passkeys.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';
import type { TestSystem } from '../helpers/system.js';

const PHISH = 'https://twofold-login.example';

forEachDatabase((kind) => {
  describe(`passkey answers made for another origin on ${kind}`, () => {
    let t: TestSystem & { origin: string };
    beforeAll(async () => {
      // Behind one proxy hop: forwarded headers are believed for the client's address, and must
      // still not move the relying party.
      t = await startLocalhostSystem({ db: kind, env: { TRUST_PROXY: '1' } });
    });
    afterAll(() => t.stop());

    it('when a sign-in answer was signed on a phishing origin then it is refused and no session opens', async () => {
      const { auth } = await userWithPasskey(t);
      const b = new Browser(t.url);
      const opts = await b.post('/session/passkey-signin/options', {});
      const relayed = auth.assert(opts.body.options as Record<string, unknown>, { origin: PHISH });
      expect(await b.post('/session/passkey-signin', { response: relayed })).toMatchObject({ status: 400, body: { code: 'PASSKEY_INVALID' } });
      expect(b.cookie).toBeUndefined();
      expect((await b.get('/user')).status).toBe(401);
    });

    it('when the phishing site uses its own RP ID (its domain) then the answer is refused', async () => {
      const { auth } = await userWithPasskey(t);
      const b = new Browser(t.url);
      const opts = await b.post('/session/passkey-signin/options', {});
      const relayed = auth.assert(opts.body.options as Record<string, unknown>, { rpId: 'twofold-login.example' });
      expect((await b.post('/session/passkey-signin', { response: relayed })).body.code).toBe('PASSKEY_INVALID');
      expect((await b.get('/user')).status).toBe(401);
    });

    it('when a second-factor answer comes from another origin then it is refused and the login stays half done', async () => {
      const { u, auth } = await userWithPasskey(t);
      const b = new Browser(t.url);
      await b.post('/session', { email: u.email, password: u.password });
      expect((await passkeySecondFactor(b, auth, { origin: PHISH })).body.code).toBe('PASSKEY_INVALID');
      expect((await b.get('/user')).status).toBe(401);
      // The real page still works: the refusal spent a try, not the login.
      expect((await passkeySecondFactor(b, auth)).body.state).toBe('logged_in');
    });

    it('when forwarded headers name the phishing host then the expected origin is still PUBLIC_URL', async () => {
      const { auth } = await userWithPasskey(t);
      const b = new Browser(t.url);
      const fwd = { 'x-forwarded-host': 'twofold-login.example', 'x-forwarded-for': '203.0.113.9' };
      const opts = await b.request('POST', '/session/passkey-signin/options', {}, fwd);
      expect(opts.status).toBe(200);
      expect((opts.body.options as { rpId: string }).rpId).toBe('localhost');
      const relayed = auth.assert(opts.body.options as Record<string, unknown>, { origin: PHISH, rpId: 'twofold-login.example' });
      expect((await b.request('POST', '/session/passkey-signin', { response: relayed }, fwd)).body.code).toBe('PASSKEY_INVALID');
      expect((await b.get('/user')).status).toBe(401);
    });

    it('when a registration was made on another origin then no passkey is added', async () => {
      const b = new Browser(t.url);
      await signUp(b, newUser());
      const opts = await b.post('/user/passkeys/options', {});
      const made = new SoftAuthenticator({ origin: PHISH }).register(opts.body.options as Record<string, unknown>);
      expect(await b.post('/user/passkeys', { response: made })).toMatchObject({ status: 400, body: { code: 'PASSKEY_INVALID' } });
      expect((await b.get('/user')).body.passkeys).toEqual([]);
    });

    it('when an assertion is presented as a registration (or the reverse) then it is refused by its type', async () => {
      const { auth } = await userWithPasskey(t);
      const b = new Browser(t.url);
      const opts = await b.post('/session/passkey-signin/options', {});
      const wrongType = auth.assert(opts.body.options as Record<string, unknown>, { type: 'webauthn.create' });
      expect((await b.post('/session/passkey-signin', { response: wrongType })).body.code).toBe('PASSKEY_INVALID');
    });

    it('when the same answer is sent from the real origin (the check above can fail) then it signs in', async () => {
      const { auth } = await userWithPasskey(t);
      const b = new Browser(t.url);
      const opts = await b.post('/session/passkey-signin/options', {});
      expect((await b.post('/session/passkey-signin', { response: auth.assert(opts.body.options as Record<string, unknown>) })).body.state).toBe('logged_in');
    });
  });
});
