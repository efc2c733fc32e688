// Threat: a half-authenticated session (password accepted, second factor not yet passed) reaching
// anything protected — which would make the second factor decorative.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { passwordStep, totpAt, userWithDevice, userWithTotp } from './helpers.js';

/** Every route that needs a full session, with a plausible body. */
const PROTECTED: [string, string, unknown][] = [
  ['GET', '/user', undefined],
  ['POST', '/user/authenticators', { name: 'Attacker phone' }],
  ['DELETE', '/user/authenticators/00000000-0000-4000-8000-000000000000', {}],
  ['POST', '/user/totp-app', {}],
  ['POST', '/user/totp-app/confirm', { code: '123456' }],
  ['POST', '/user/passkeys/options', {}],
  ['POST', '/user/passkeys', { response: {} }],
  ['PATCH', '/user/passkeys/pk_AAAAAAAAAAAAAAAA', { name: 'Attacker key' }],
  ['DELETE', '/user/passkeys/pk_AAAAAAAAAAAAAAAA', {}],
  ['POST', '/session/reauth/passkey/options', {}],
  ['POST', '/session/reauth/passkey', { response: {} }],
];

forEachDatabase((kind) => {
  describe(`half-authenticated sessions on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(() => t.stop());

    async function expectRefused(b: Browser) {
      const results = await Promise.all(PROTECTED.map(([m, p, body]) => b.request(m, p, body)));
      expect(results.map((r, i) => `${PROTECTED[i]![0]} ${PROTECTED[i]![1]} ${r.status}`)).toEqual(PROTECTED.map(([m, p]) => `${m} ${p} 401`));
      for (const r of results) expect(r.body.code).toBe('UNAUTHENTICATED');
      // Also as an event stream (the SPA's way of waiting).
      expect((await b.get('/user', { accept: 'text/event-stream' })).status).toBe(401);
    }

    it('when only the password was given (code login) then every protected route answers 401 and nothing changed', async () => {
      const { u, secret } = await userWithTotp(t);
      const { b } = await passwordStep(t, u, 'code');
      await expectRefused(b);
      // The login itself still works, and the refused calls left no trace on the account.
      expect((await b.post('/session/verify', { code: totpAt(secret, Date.now()) })).status).toBe(200);
      const me = await b.get('/user');
      expect(me.body.devices).toEqual([]);
      // The third-party app counts from its first code (this login's), as the service says.
      expect(me.body.totp_apps as unknown[]).toHaveLength(1);
      const types = (me.body.events as { type: string }[]).map((e) => e.type);
      expect(types).not.toContain('device_activated');
      expect(types).not.toContain('device_revoked');
    });

    it('when only the password was given (push login) then every protected route answers 401, however often it is tried at once', async () => {
      const { u } = await userWithDevice(t);
      const { b } = await passwordStep(t, u, 'approve');
      await Promise.all(Array.from({ length: 5 }, () => expectRefused(b)));
      expect((await b.get('/authy/status')).body.status).toBe('pending');
    });

    it('when the second-factor routes are called without a login in progress then 401', async () => {
      const b = new Browser(t.url);
      expect((await b.get('/authy/status')).status).toBe(401);
      expect((await b.post('/session/verify', { code: '123456' })).status).toBe(401);
      expect((await b.post('/session/resend', {})).status).toBe(401);
      expect((await b.post('/session/complete', {})).status).toBe(401);
      expect((await b.del('/session')).status).toBe(401);
      await expectRefused(b);
      b.cookie = `twofold=${'A'.repeat(43)}`;
      await expectRefused(b);
    });
  });
});
