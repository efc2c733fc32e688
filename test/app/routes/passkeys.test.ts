// Passkeys on the account page, as the second factor, as a sign-in without a password, and as a
// step-up: each through the server's real WebAuthn verification, fed by a software authenticator.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitMail, Browser, latestSmsCode, newUser, signUp } from '../helpers.js';
import { forEachDatabase } from '../../helpers/databases.js';
import { addPasskey, passkeySecondFactor, passkeySignIn, startLocalhostSystem, userWithPasskey } from '../../helpers/passkeys.js';
import { SoftAuthenticator } from '../../helpers/soft-authenticator.js';
import { startTestSystem, type TestSystem } from '../../helpers/system.js';

type Listed = { id: string; name: string; created_at: number; last_used_at: number | null; backed_up: boolean; device_type: string; cloned: boolean };

forEachDatabase((kind) => {
  describe(`passkeys on ${kind}`, () => {
    let t: TestSystem & { origin: string };
    beforeAll(async () => {
      t = await startLocalhostSystem({ db: kind });
    });
    afterAll(() => t.stop());

    const passkeysOf = async (b: Browser) => (await b.get('/user')).body.passkeys as Listed[];

    describe('the account page', () => {
      it('when a passkey is registered then it is listed with its name, dates and backup state, and the owner gets a notice', async () => {
        const { u, b, passkey } = await userWithPasskey(t, { backedUp: true });
        const list = await passkeysOf(b);
        expect(list).toEqual([{ id: passkey.id, name: expect.stringContaining('Synced passkey'), created_at: expect.any(Number), last_used_at: null, backed_up: true, device_type: 'multiDevice', cloned: false }]);
        expect((await b.get('/user')).body.passkeys_available).toBe(true);
        expect((await awaitMail(t.url, u.email, 'A passkey was added')).text).toMatch(/can now sign in/);
      });

      it('when the options are asked for then they name this site, ES256 and RS256 only, no attestation, a preferred resident key, and exclude the passkeys already held', async () => {
        const { b, auth } = await userWithPasskey(t);
        const r = await b.post('/user/passkeys/options', {});
        const o = r.body.options as Record<string, any>;
        expect(o.rp).toEqual({ name: expect.any(String), id: 'localhost' });
        expect(o.pubKeyCredParams.map((p: { alg: number }) => p.alg)).toEqual([-7, -257]);
        expect(o.attestation).toBe('none');
        expect(o.authenticatorSelection).toMatchObject({ residentKey: 'preferred', userVerification: 'preferred' });
        expect(o.excludeCredentials.map((c: { id: string }) => c.id)).toEqual([auth.credentials[0]!.id]);
        // The user handle is random, not the email or the account's id.
        expect(Buffer.from(o.user.id, 'base64url')).toHaveLength(32);
        expect(r.headers.get('cache-control')).toBe('no-store');
      });

      it('when a passkey is registered with RS256 then it signs in; with EdDSA (not offered) it is refused', async () => {
        const u = newUser();
        const b = new Browser(t.url);
        await signUp(b, u);
        const rsa = new SoftAuthenticator({ origin: t.origin });
        expect((await addPasskey(b, rsa, { alg: 'RS256', name: 'Old key' })).status).toBe(201);
        const ed = await addPasskey(b, new SoftAuthenticator({ origin: t.origin }), { alg: 'EdDSA' });
        expect(ed).toMatchObject({ status: 400, body: { code: 'PASSKEY_INVALID' } });
        expect((await passkeySignIn(new Browser(t.url), rsa)).body.state).toBe('logged_in');
      });

      it('when a passkey is renamed then the list shows the new name; an empty or long name is a 400', async () => {
        const { b, passkey } = await userWithPasskey(t);
        const r = await b.request('PATCH', `/user/passkeys/${passkey.id}`, { name: '  Work laptop  ' });
        expect(r).toMatchObject({ status: 200, body: { passkey: { id: passkey.id, name: 'Work laptop' } } });
        expect((await passkeysOf(b))[0]!.name).toBe('Work laptop');
        expect((await b.request('PATCH', `/user/passkeys/${passkey.id}`, { name: '' })).body.code).toBe('VALIDATION');
        expect((await b.request('PATCH', `/user/passkeys/${passkey.id}`, { name: 'x'.repeat(65) })).body.code).toBe('VALIDATION');
        expect((await b.request('PATCH', '/user/passkeys/not-an-id', { name: 'x' })).status).toBe(400);
      });

      it('when a passkey is removed then it no longer signs in, the owner gets a notice, and the audit trail has every step', async () => {
        const { u, b, auth, passkey } = await userWithPasskey(t);
        await b.request('PATCH', `/user/passkeys/${passkey.id}`, { name: 'Phone' });
        expect(await b.del(`/user/passkeys/${passkey.id}`)).toMatchObject({ status: 200, body: { removed: passkey.id } });
        expect(await passkeysOf(b)).toEqual([]);
        expect((await b.del(`/user/passkeys/${passkey.id}`)).status).toBe(404);
        expect((await passkeySignIn(new Browser(t.url), auth)).body.code).toBe('PASSKEY_INVALID');
        await awaitMail(t.url, u.email, 'A passkey was removed');
        const types = ((await b.get('/user')).body.events as { type: string }[]).map((e) => e.type);
        expect(types).toEqual(expect.arrayContaining(['passkey_added', 'passkey_renamed', 'passkey_removed']));
      });

      it("when one account names another account's passkey then 404, and the passkey stays", async () => {
        const owner = await userWithPasskey(t);
        const other = new Browser(t.url);
        await signUp(other, newUser());
        expect((await other.request('PATCH', `/user/passkeys/${owner.passkey.id}`, { name: 'mine now' })).status).toBe(404);
        expect((await other.del(`/user/passkeys/${owner.passkey.id}`)).status).toBe(404);
        expect((await passkeysOf(owner.b)).map((p) => p.name)).toEqual([owner.passkey.name]);
      });

      it('when a credential already registered (here or to another account) is registered again then 409 PASSKEY_EXISTS', async () => {
        const first = await userWithPasskey(t);
        const b = new Browser(t.url);
        await signUp(b, newUser());
        const opts = await b.post('/user/passkeys/options', {});
        const again = first.auth.register(opts.body.options as Record<string, unknown>, { credentialId: Buffer.from(first.auth.credentials[0]!.id, 'base64url') });
        expect(await b.post('/user/passkeys', { response: again })).toMatchObject({ status: 409, body: { code: 'PASSKEY_EXISTS' } });
      });

      it('when an account holds 20 passkeys then a 21st is refused with 409 TOO_MANY_DEVICES', async () => {
        const { b, auth } = await userWithPasskey(t);
        for (let i = 1; i < 20; i++) expect((await addPasskey(b, auth)).status).toBe(201);
        expect(await b.post('/user/passkeys/options', {})).toMatchObject({ status: 409, body: { code: 'TOO_MANY_DEVICES' } });
        expect(await passkeysOf(b)).toHaveLength(20);
      });

      it('when the id the browser names is not the attested credential, or is too short, then 400 and nothing is stored', async () => {
        const b = new Browser(t.url);
        await signUp(b, newUser());
        const auth = new SoftAuthenticator({ origin: t.origin });
        let opts = await b.post('/user/passkeys/options', {});
        const named = auth.register(opts.body.options as Record<string, unknown>);
        const other = Buffer.alloc(32, 7).toString('base64url');
        expect((await b.post('/user/passkeys', { response: { ...named, id: other, rawId: other } })).body.code).toBe('PASSKEY_INVALID');
        opts = await b.post('/user/passkeys/options', {});
        const short = auth.register(opts.body.options as Record<string, unknown>, { credentialId: Buffer.alloc(8, 1) });
        expect((await b.post('/user/passkeys', { response: short })).body.code).toBe('PASSKEY_INVALID');
        expect(await passkeysOf(b)).toEqual([]);
      });

      it('when a name holds a NUL, another control or a direction override then 400 VALIDATION on both databases', async () => {
        const { b, passkey } = await userWithPasskey(t);
        for (const name of ['a\u0000b', 'line\nbreak', 'evil\u202Eyek']) {
          expect((await b.request('PATCH', `/user/passkeys/${passkey.id}`, { name })).body.code).toBe('VALIDATION');
        }
      });

      it('when 4 sessions of an account at 19 passkeys register at the same moment then it ends with 20, never more', async () => {
        const { u, b, auth } = await userWithPasskey(t);
        for (let i = 1; i < 19; i++) expect((await addPasskey(b, auth)).status).toBe(201);
        // Four fresh logins, one after the other (one authenticator's counter moves in order).
        const sessions: Browser[] = [];
        for (let i = 0; i < 4; i++) {
          const x = new Browser(t.url);
          await x.post('/session', { email: u.email, password: u.password });
          expect((await passkeySecondFactor(x, auth)).body.state).toBe('logged_in');
          sessions.push(x);
        }
        const answers = await Promise.all(
          sessions.map(async (x) => {
            const opts = await x.post('/user/passkeys/options', {});
            return { x, response: new SoftAuthenticator({ origin: t.origin }).register(opts.body.options as Record<string, unknown>) };
          }),
        );
        const results = await Promise.all(answers.map(({ x, response }) => x.post('/user/passkeys', { response })));
        expect(results.filter((r) => r.status === 201)).toHaveLength(1);
        for (const r of results) if (r.status !== 201) expect(r.body.code).toBe('TOO_MANY_DEVICES');
        expect(await passkeysOf(b)).toHaveLength(20);
      });

      it('when the registration body is not a WebAuthn answer then 400 VALIDATION, never a 500', async () => {
        const b = new Browser(t.url);
        await signUp(b, newUser());
        await b.post('/user/passkeys/options', {});
        for (const body of [{}, { response: 'x' }, { response: { id: 'a', rawId: 'a', type: 'public-key', response: { clientDataJSON: '!!', attestationObject: 'AA' } } }, [1]]) {
          const r = await b.post('/user/passkeys', body);
          expect(r.status, JSON.stringify(body)).toBe(400);
          expect(r.body.code).toBe('VALIDATION');
        }
        const garbage = { id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: { clientDataJSON: Buffer.from('{}').toString('base64url'), attestationObject: 'AAAA' } };
        expect(await b.post('/user/passkeys', { response: garbage })).toMatchObject({ status: 400, body: { code: 'PASSKEY_INVALID' } });
      });
    });

    describe('logging in', () => {
      it('when the password is accepted then the answer offers the passkey, and a passkey completes the login as the second factor', async () => {
        const { u, auth } = await userWithPasskey(t);
        const b = new Browser(t.url);
        const login = await b.post('/session', { email: u.email, password: u.password });
        expect(login.body.passkey).toBe(true);
        const done = await passkeySecondFactor(b, auth);
        expect(done).toMatchObject({ status: 200, body: { state: 'logged_in' } });
        expect((await b.get('/user')).status).toBe(200);
        const events = (await b.get('/user')).body.events as { type: string; detail: Record<string, unknown> }[];
        expect(events.find((e) => e.type === 'login')?.detail.kind).toBe('passkey');
        expect((await passkeysOf(b))[0]!.last_used_at).toEqual(expect.any(Number));
      });

      it("when another account's passkey answers the second factor then it is refused and counts as a wrong code", async () => {
        const { u } = await userWithPasskey(t);
        const stranger = await userWithPasskey(t);
        const b = new Browser(t.url);
        await b.post('/session', { email: u.email, password: u.password });
        const opts = await b.post('/session/passkey/options', {});
        const forged = stranger.auth.assert({ ...(opts.body.options as Record<string, unknown>), allowCredentials: undefined });
        expect(await b.post('/session/passkey', { response: forged })).toMatchObject({ status: 400, body: { code: 'PASSKEY_INVALID' } });
        expect((await b.get('/user')).status).toBe(401);
      });

      it('when the passkey verifies its user then "Sign in with a passkey" is the whole login, with its return_to', async () => {
        const { u, auth } = await userWithPasskey(t);
        const b = new Browser(t.url);
        const r = await passkeySignIn(b, auth, {}, { return_to: '/account#passkeys' });
        expect(r).toMatchObject({ status: 200, body: { state: 'logged_in', return_to: '/account#passkeys' } });
        expect(((await b.get('/user')).body.user as { email: string }).email).toBe(u.email);
        expect(b.passkeyCookie).toBeUndefined();
      });

      it('when the passkey did not verify its user then the sign-in still asks for a second factor, which that passkey cannot be', async () => {
        const { u, auth } = await userWithPasskey(t, { userVerified: false });
        const b = new Browser(t.url);
        const r = await passkeySignIn(b, auth);
        expect(r.body).toMatchObject({ state: 'code', passkey: false });
        expect((await b.get('/user')).status).toBe(401);
        expect((await passkeySecondFactor(b, auth)).body.code).toBe('PASSKEY_INVALID');
        const { code } = await latestSmsCode(t.url, `+1${u.phone}`);
        expect((await b.post('/session/verify', { code })).body.state).toBe('logged_in');
      });

      it('when a sign-in answer comes without the browser\'s sign-in cookie then it is refused', async () => {
        const { auth } = await userWithPasskey(t);
        const b = new Browser(t.url);
        const opts = await b.post('/session/passkey-signin/options', {});
        const other = new Browser(t.url);
        expect(await other.post('/session/passkey-signin', { response: auth.assert(opts.body.options as Record<string, unknown>) })).toMatchObject({ status: 400, body: { code: 'PASSKEY_INVALID' } });
      });
    });

    describe('step-up', () => {
      async function staleSession() {
        const x = await userWithPasskey(t);
        await t.system.db.updateTable('app_sessions').set({ reauth_at: Date.now() - 6 * 60_000 }).where('token_hash', 'is not', null).where('user_id', '=', (await t.system.db.selectFrom('app_users').select('id').where('email', '=', x.u.email).executeTakeFirstOrThrow()).id).execute();
        expect((await x.b.post('/user/passkeys/options', {})).body.code).toBe('REAUTH_REQUIRED');
        return x;
      }

      it('when a passkey that verifies its user confirms it is you then factor changes are open for 5 minutes', async () => {
        const { b, auth } = await staleSession();
        const opts = await b.post('/session/reauth/passkey/options', {});
        const r = await b.post('/session/reauth/passkey', { response: auth.assert(opts.body.options as Record<string, unknown>) });
        expect(r).toMatchObject({ status: 200, body: { state: 'reauthenticated', reauth_until: expect.any(Number) } });
        expect((await b.post('/user/passkeys/options', {})).status).toBe(200);
      });

      it('when the passkey did not verify its user then the step-up is refused with PASSKEY_NOT_VERIFIED', async () => {
        const x = await userWithPasskey(t, { userVerified: false });
        await t.system.db.updateTable('app_sessions').set({ reauth_at: Date.now() - 6 * 60_000 }).where('state', '=', 'full').execute();
        const opts = await x.b.post('/session/reauth/passkey/options', {});
        expect(await x.b.post('/session/reauth/passkey', { response: x.auth.assert(opts.body.options as Record<string, unknown>) })).toMatchObject({ status: 400, body: { code: 'PASSKEY_NOT_VERIFIED' } });
        expect((await x.b.post('/user/passkeys/options', {})).body.code).toBe('REAUTH_REQUIRED');
      });

      it('when the step-up starts with the password then a passkey is its second factor', async () => {
        const { u, b, auth } = await staleSession();
        const start = await b.post('/session/reauth', { password: u.password });
        expect(start.body.passkey).toBe(true);
        expect((await passkeySecondFactor(b, auth)).body.state).toBe('reauthenticated');
        expect((await b.post('/user/passkeys/options', {})).status).toBe(200);
      });
    });
  });
});

describe('passkeys where PUBLIC_URL is an IP address', () => {
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem();
  });
  afterAll(() => t.stop());

  it('when the site is configured by IP then the account page says why passkeys are off, and every ceremony is 409 PASSKEYS_UNAVAILABLE', async () => {
    const b = new Browser(t.url);
    await signUp(b, newUser());
    const page = await b.get('/user');
    expect(page.body).toMatchObject({ passkeys: [], passkeys_available: false, passkeys_unavailable_reason: expect.stringMatching(/IP address/) });
    expect(await b.post('/user/passkeys/options', {})).toMatchObject({ status: 409, body: { code: 'PASSKEYS_UNAVAILABLE' } });
    expect((await new Browser(t.url).post('/session/passkey-signin/options', {})).body.code).toBe('PASSKEYS_UNAVAILABLE');
  });
});
