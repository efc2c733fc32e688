// Threat: someone holds a passkey they should not: a security key stolen from its owner (without
// a PIN, on which the thief then sets one), or a passkey an intruder added while they held the
// account. A passkey's user-verified sign-in is a whole login only when this account saw the
// authenticator verify its user (at registration, or after the password); a password reset, a
// password change and "end all other sessions" withdraw that from every passkey, so an intruder's
// passkey needs the password again; a passkey sign-in never cancels the owner's reset link; and
// removing a passkey signs out every session signed in with it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitMail, Browser, latestSmsCode, resetTokenIn } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { passkeySecondFactor, passkeySignIn, startLocalhostSystem, userWithPasskey } from '../helpers/passkeys.js';
import type { TestSystem } from '../helpers/system.js';

forEachDatabase((kind) => {
  describe(`stolen or planted passkeys on ${kind}`, () => {
    let t: TestSystem & { origin: string };
    beforeAll(async () => {
      t = await startLocalhostSystem({ db: kind });
    });
    afterAll(() => t.stop());

    it('when a key registered without a PIN gets a PIN set by a thief then its sign-in still asks for the second factor, and it cannot confirm a step-up', async () => {
      const { auth, b } = await userWithPasskey(t, { userVerified: false });
      // The thief sets a PIN: from now on the key reports user verification.
      auth.o.userVerified = true;
      const thief = new Browser(t.url);
      expect((await passkeySignIn(thief, auth)).body).toMatchObject({ state: 'code', passkey: false });
      expect((await thief.get('/user')).status).toBe(401);
      await t.system.db.updateTable('app_sessions').set({ reauth_at: Date.now() - 6 * 60_000 }).where('state', '=', 'full').execute();
      const opts = await b.post('/session/reauth/passkey/options', {});
      expect((await b.post('/session/reauth/passkey', { response: auth.assert(opts.body.options as Record<string, unknown>) })).body.code).toBe('PASSKEY_NOT_VERIFIED');
    });

    it('when the owner uses such a key with a new PIN after the password then it signs in alone from then on (the check above can fail)', async () => {
      const { u, auth } = await userWithPasskey(t, { userVerified: false });
      auth.o.userVerified = true;
      const b = new Browser(t.url);
      await b.post('/session', { email: u.email, password: u.password });
      expect((await passkeySecondFactor(b, auth)).body.state).toBe('logged_in');
      expect((await passkeySignIn(new Browser(t.url), auth)).body.state).toBe('logged_in');
    });

    it('when the owner resets the password then a passkey an intruder added no longer signs in alone, and its sign-ins leave the reset link alive', async () => {
      const { u, auth: intruders } = await userWithPasskey(t);
      expect((await passkeySignIn(new Browser(t.url), intruders)).body.state).toBe('logged_in');
      expect((await new Browser(t.url).post('/password/forgot', { email: u.email })).status).toBe(202);
      const token = resetTokenIn(await awaitMail(t.url, u.email, 'Reset your password'));
      // Signing in with a passkey does not end the owner's link.
      expect((await passkeySignIn(new Browser(t.url), intruders)).body.state).toBe('logged_in');
      expect((await new Browser(t.url).post('/password/reset', { token, password: 'the owner chose this one' })).status).toBe(200);
      const after = new Browser(t.url);
      expect((await passkeySignIn(after, intruders)).body).toMatchObject({ state: 'code', passkey: false });
      expect((await after.get('/user')).status).toBe(401);
    });

    it('when the owner removes a passkey then the sessions signed in with it end, and the owner\'s stays', async () => {
      const { u, auth, passkey } = await userWithPasskey(t, { userVerified: false });
      // Signed in with the passkey and then a texted code: still a session the passkey opened.
      const thief = new Browser(t.url);
      expect((await passkeySignIn(thief, auth)).body.state).toBe('code');
      const { code } = await latestSmsCode(t.url, `+1${u.phone}`);
      expect((await thief.post('/session/verify', { code })).body.state).toBe('logged_in');
      const owner = new Browser(t.url);
      await owner.post('/session', { email: u.email, password: u.password });
      expect((await passkeySecondFactor(owner, auth)).body.state).toBe('logged_in');
      expect((await owner.del(`/user/passkeys/${passkey.id}`)).status).toBe(200);
      expect((await thief.get('/user')).status).toBe(401);
      expect((await owner.get('/user')).status).toBe(200);
    });

    it('when the owner ends all other sessions then every passkey needs the password again before it signs in alone', async () => {
      const { u, b, auth } = await userWithPasskey(t);
      expect((await b.del('/user/sessions')).status).toBe(200);
      expect((await passkeySignIn(new Browser(t.url), auth)).body.state).toBe('code');
      // The owner proves it after the password; then it signs in alone again.
      const again = new Browser(t.url);
      await again.post('/session', { email: u.email, password: u.password });
      expect((await passkeySecondFactor(again, auth)).body.state).toBe('logged_in');
      expect((await passkeySignIn(new Browser(t.url), auth)).body.state).toBe('logged_in');
    });
  });
});
