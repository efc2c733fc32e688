// Verify v2 push factors, end to end: the app (the real `twilio` package) asks for an access
// token, the Twofold CLI authenticator (the real `twofold authenticator` command) enrols a push
// factor with it and answers the app's challenges; the app reads the outcome and its webhooks.
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { builtinVerifyClient, refusal, type VerifyClient } from '../helpers/twilio-verify.js';
import { authenticator, freshStateFile, pushClients, webhookReceiver } from './push-helpers.js';

forEachDatabase((kind) => {
  describe(`Verify v2 push factors on ${kind}`, () => {
    let t: TestSystem;
    let client: VerifyClient;
    let hooks: Awaited<ReturnType<typeof webhookReceiver>>;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
      ({ client } = await builtinVerifyClient(t));
      hooks = await webhookReceiver();
    });
    afterAll(async () => {
      await hooks.close();
      await t.stop();
    });

    it('when the CLI enrols with an access token and answers challenges then the app sees the factor verified, one challenge approved and one denied, each told to its webhook', async () => {
      const svc = await client.verify.v2.services.create({ friendlyName: 'Acme Push' });
      await client.verify.v2.services(svc.sid).webhooks.create({ friendlyName: 'All', eventTypes: ['*'], webhookUrl: `${hooks.url}/push` });
      const identity = randomUUID();
      const tok = await client.verify.v2.services(svc.sid).accessTokens.create({ identity, factorType: 'push', factorFriendlyName: 'Ada laptop', ttl: 120 });
      expect(tok).toMatchObject({ serviceSid: svc.sid, entityIdentity: identity, factorType: 'push', factorFriendlyName: 'Ada laptop', ttl: 120 });
      expect(tok.sid).toMatch(/^YK[0-9a-f]{32}$/);
      expect(tok.token.length).toBeGreaterThanOrEqual(43);
      // The token is stored hashed: a fetch cannot show it again.
      expect((await client.verify.v2.services(svc.sid).accessTokens(tok.sid).fetch()).token).toBeNull();

      const state = freshStateFile();
      const enrol = await authenticator(['verify-enrol', '--url', t.url, '--service', svc.sid, '--identity', identity, '--token', tok.token], state);
      expect(enrol.err).toEqual([]);
      expect(enrol.code).toBe(0);
      expect(enrol.out.join('\n')).toMatch(/Enrolled push factor YF[0-9a-f]{32} \("Ada laptop"\).*verified/);
      expect(statSync(state).mode & 0o777).toBe(0o600);

      const factors = await client.verify.v2.services(svc.sid).entities(identity).factors.list();
      expect(factors).toHaveLength(1);
      const f = factors[0]!;
      expect(f).toMatchObject({ factorType: 'push', status: 'verified', friendlyName: 'Ada laptop', config: { sdk_version: 'twofold-cli-1', notification_platform: 'none' } });

      const ch = await client.verify.v2.services(svc.sid).entities(identity).challenges.create({
        factorSid: f.sid,
        'details.message': 'Log in to Acme',
        'details.fields': [{ label: 'IP', value: '203.0.113.9' }, { label: 'Browser', value: 'Firefox' }],
        hiddenDetails: { session: 's-1' },
      });
      expect(ch.status).toBe('pending');
      const pending = await authenticator(['verify-pending'], state);
      expect(pending.code).toBe(0);
      const shown = pending.out.join('\n');
      expect(shown).toContain(ch.sid);
      expect(shown).toContain('Log in to Acme');
      expect(shown).toContain('IP: 203.0.113.9');
      expect(shown).toContain('Browser: Firefox');
      // The device is not shown the hidden details.
      expect(shown).not.toContain('s-1');

      const approve = await authenticator(['verify-approve', ch.sid], state);
      expect(approve.code).toBe(0);
      expect(approve.out.join('\n')).toContain('Log in to Acme');
      expect(approve.out.at(-1)).toBe(`Challenge ${ch.sid}: approved`);
      expect((await client.verify.v2.services(svc.sid).entities(identity).challenges(ch.sid).fetch()).status).toBe('approved');

      const other = await client.verify.v2.services(svc.sid).entities(identity).challenges.create({ factorSid: f.sid, 'details.message': 'Pay 500 EUR to Mallory' });
      const deny = await authenticator(['verify-deny', other.sid], state);
      expect(deny.code).toBe(0);
      expect(deny.out.at(-1)).toBe(`Challenge ${other.sid}: denied`);
      const after = await client.verify.v2.services(svc.sid).entities(identity).challenges(other.sid).fetch();
      expect(after.status).toBe('denied');
      expect(after.dateResponded).toBeInstanceOf(Date);
      expect((await authenticator(['verify-pending'], state)).out).toEqual(['No pending push challenges.']);

      const got = await eventually(async () => {
        const seen = hooks.got.filter((g) => g.path === '/push');
        return seen.length >= 4 ? seen : undefined;
      }, 10_000);
      expect(got.map((g) => g.params.type).sort()).toEqual(['challenge.approved', 'challenge.denied', 'factor.created', 'factor.verified']);
      const denied = got.find((g) => g.params.type === 'challenge.denied')!;
      expect(denied.params).toMatchObject({ challenge_sid: other.sid, challenge_status: 'denied', factor_sid: f.sid, factor_type: 'push', entity_identity: identity, service_sid: svc.sid });
      expect(twilio.validateRequest(t.apiKey, denied.signature!, `${hooks.url}/push`, denied.params)).toBe(true);
      expect(twilio.validateRequest(t.apiKey, denied.signature!, `${hooks.url}/push`, { ...denied.params, challenge_status: 'approved' })).toBe(false);
    });

    it('when the app itself tries to make or answer a push factor then 60200: only the device holds its key', async () => {
      const svc = await client.verify.v2.services.create({ friendlyName: 'Acme Push App' });
      const identity = randomUUID();
      expect((await refusal(client.verify.v2.services(svc.sid).entities(identity).newFactors.create({ friendlyName: 'P', factorType: 'push', 'binding.alg': 'ES256', 'binding.publicKey': 'AAAA' }))).code).toBe(60200);
      const tok = await client.verify.v2.services(svc.sid).accessTokens.create({ identity, factorType: 'push' });
      const state = freshStateFile();
      expect((await authenticator(['verify-enrol', '--url', t.url, '--service', svc.sid, '--identity', identity, '--token', tok.token, '--name', 'Phone'], state)).code).toBe(0);
      const [device] = pushClients(state);
      const ch = await client.verify.v2.services(svc.sid).entities(identity).challenges.create({ factorSid: device!.state.factor_sid, 'details.message': 'Hi' });
      expect((await refusal(client.verify.v2.services(svc.sid).entities(identity).challenges(ch.sid).update({ authPayload: '123456' }))).code).toBe(60200);
      expect((await refusal(client.verify.v2.services(svc.sid).entities(identity).factors(device!.state.factor_sid).update({ authPayload: '123456' }))).code).toBe(60200);
      expect((await client.verify.v2.services(svc.sid).entities(identity).challenges(ch.sid).fetch()).status).toBe('pending');
      // The app may still rename it.
      expect((await client.verify.v2.services(svc.sid).entities(identity).factors(device!.state.factor_sid).update({ friendlyName: 'Work phone' })).friendlyName).toBe('Work phone');
    });

    it('when access tokens are asked with wrong parameters then 4xx with Twilio\'s codes, and 10 per entity per window', async () => {
      const svc = await client.verify.v2.services.create({ friendlyName: 'Acme Push Tokens' });
      const tokens = client.verify.v2.services(svc.sid).accessTokens;
      expect((await refusal(tokens.create({ identity: 'ada@example.com', factorType: 'push' }))).code).toBe(60366);
      expect((await refusal(tokens.create({ identity: randomUUID(), factorType: 'totp' as 'push' }))).code).toBe(60200);
      expect((await refusal(tokens.create({ identity: randomUUID(), factorType: 'push', ttl: 30 }))).code).toBe(60200);
      expect((await refusal(tokens.create({ identity: randomUUID(), factorType: 'push', ttl: 3600 }))).code).toBe(60200);
      expect((await refusal(tokens.create({ identity: randomUUID(), factorType: 'push', factorFriendlyName: 'x\u0000y' }))).code).toBe(60200);
      expect((await refusal(client.verify.v2.services('VA' + '0'.repeat(32)).accessTokens.create({ identity: randomUUID(), factorType: 'push' }))).status).toBe(404);
      const identity = randomUUID();
      for (let i = 0; i < 10; i++) await tokens.create({ identity, factorType: 'push' });
      const e = await refusal(tokens.create({ identity, factorType: 'push' }));
      expect([e.status, e.code]).toEqual([429, 20429]);
    });
  });
});
