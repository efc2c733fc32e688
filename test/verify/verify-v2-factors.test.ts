// Verify v2 Entities, TOTP Factors and Challenges through the real `twilio` package: an app that
// enrolled authenticator apps with Twilio's Verify TOTP keeps its code when it moves to Twofold.
import { randomUUID } from 'node:crypto';
import { TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { builtinVerifyClient, refusal, type VerifyClient } from '../helpers/twilio-verify.js';


/** The code of `uri` (an otpauth:// URI) at `at` ms. */
function codeOf(uri: string, at = Date.now()): string {
  const q = new URL(uri).searchParams;
  return new TOTP({ secret: q.get('secret')!, digits: Number(q.get('digits') ?? 6), period: Number(q.get('period') ?? 30), algorithm: q.get('algorithm') ?? 'SHA1' }).generate({ timestamp: at });
}

forEachDatabase((kind) => {
  describe(`Verify v2 TOTP factors and challenges through the twilio package on ${kind}`, () => {
    let t: TestSystem;
    let client: VerifyClient;
    let serviceSid: string;
    let accountSid: string;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
      ({ client, accountSid } = await builtinVerifyClient(t));
      serviceSid = (await client.verify.v2.services.create({ friendlyName: 'Acme Bank' })).sid;
    });
    afterAll(() => t.stop());

    const svc = () => client.verify.v2.services(serviceSid);

    /** A verified TOTP factor of a new entity: its identity, sid and otpauth URI. */
    async function verifiedFactor() {
      const identity = randomUUID();
      const f = await svc().entities(identity).newFactors.create({ friendlyName: 'Ada phone', factorType: 'totp' });
      const uri = (f.binding as { uri: string }).uri;
      // The previous step's code (the skew takes it), so that the test's own next codes stay free.
      const v = await svc().entities(identity).factors(f.sid).update({ authPayload: codeOf(uri, Date.now() - 30_000) });
      expect(v.status).toBe('verified');
      return { identity, sid: f.sid, uri };
    }

    it('when a TOTP factor is created then it carries a secret and an otpauth URI, is unverified, and a first code verifies it', async () => {
      const identity = randomUUID();
      const f = await svc().entities(identity).newFactors.create({ friendlyName: 'Ada phone', factorType: 'totp' });
      expect(f.sid).toMatch(/^YF[0-9a-f]{32}$/);
      expect(f).toMatchObject({ status: 'unverified', factorType: 'totp', identity, friendlyName: 'Ada phone' });
      const binding = f.binding as { secret: string; uri: string };
      expect(binding.uri).toMatch(/^otpauth:\/\/totp\/Acme%20Bank:Ada%20phone\?/);
      expect(new URL(binding.uri).searchParams.get('secret')).toBe(binding.secret);
      expect((await svc().entities(identity).fetch()).identity).toBe(identity);
      const wrong = await svc().entities(identity).factors(f.sid).update({ authPayload: '000000' === codeOf(binding.uri) ? '111111' : '000000' });
      expect(wrong.status).toBe('unverified');
      expect((await svc().entities(identity).factors(f.sid).update({ authPayload: codeOf(binding.uri) })).status).toBe('verified');
      // The secret is shown once: a fetch has no binding.
      const raw = await fetch(`${t.url}/v2/Services/${serviceSid}/Entities/${identity}/Factors/${f.sid}`, { headers: { authorization: `Basic ${Buffer.from(`${accountSid}:${t.apiKey}`).toString('base64')}` } });
      const body = (await raw.json()) as Record<string, unknown>;
      expect(body.sid).toBe(f.sid);
      expect(body).not.toHaveProperty('binding');
      expect(JSON.stringify(body)).not.toContain(binding.secret);
      expect((await svc().entities(identity).factors.list()).map((x) => x.sid)).toEqual([f.sid]);
    });

    it('when a challenge is created with the code then it is approved; a code is accepted once', async () => {
      const { identity, sid, uri } = await verifiedFactor();
      const code = codeOf(uri);
      const ch = await svc().entities(identity).challenges.create({ factorSid: sid, authPayload: code, 'details.message': 'Log in', 'details.fields': [{ label: 'IP', value: '203.0.113.7' }] });
      expect(ch.sid).toMatch(/^YC[0-9a-f]{32}$/);
      expect(ch).toMatchObject({ status: 'approved', factorSid: sid, factorType: 'totp' });
      expect(ch.details).toMatchObject({ message: 'Log in', fields: [{ label: 'IP', value: '203.0.113.7' }] });
      const again = await svc().entities(identity).challenges.create({ factorSid: sid, authPayload: code });
      expect(again.status).toBe('pending');
    });

    it('when a pending challenge gets a wrong code then it stays pending; the right one approves it; the 6th try is 60308', async () => {
      const { identity, sid, uri } = await verifiedFactor();
      const ch = await svc().entities(identity).challenges.create({ factorSid: sid });
      expect(ch.status).toBe('pending');
      const wrong = codeOf(uri) === '123456' ? '654321' : '123456';
      expect((await svc().entities(identity).challenges(ch.sid).update({ authPayload: wrong })).status).toBe('pending');
      expect((await svc().entities(identity).challenges(ch.sid).update({ authPayload: codeOf(uri) })).status).toBe('approved');
      const other = await svc().entities(identity).challenges.create({ factorSid: sid });
      for (let i = 0; i < 3; i++) await svc().entities(identity).challenges(other.sid).update({ authPayload: wrong }).catch(() => undefined);
      // 5 tries of one factor in 10 minutes (shared store): the next is 20429, never a 6th check.
      const capped = await refusal(svc().entities(identity).challenges(other.sid).update({ authPayload: wrong }));
      expect([60308, 20429]).toContain(capped.code);
      expect((await svc().entities(identity).challenges(other.sid).fetch()).status).toBe('pending');
    });

    it('when challenges are listed then they are the entity\'s, with their statuses', async () => {
      const { identity, sid } = await verifiedFactor();
      const a = await svc().entities(identity).challenges.create({ factorSid: sid });
      const list = await svc().entities(identity).challenges.list();
      expect(list.map((c) => c.sid)).toContain(a.sid);
      const other = await verifiedFactor();
      expect((await svc().entities(other.identity).challenges.list()).map((c) => c.sid)).not.toContain(a.sid);
      expect(await refusal(svc().entities(other.identity).challenges(a.sid).fetch())).toMatchObject({ status: 404 });
    });

    it('when parameters are wrong then Twilio\'s errors: a bad identity 60366, an existing entity 60301, an unverified factor\'s challenge 60200, push 60200', async () => {
      expect((await refusal(svc().entities.create({ identity: 'short' }))).code).toBe(60366);
      const identity = randomUUID();
      await svc().entities.create({ identity });
      expect(await refusal(svc().entities.create({ identity }))).toMatchObject({ status: 409, code: 60301 });
      const f = await svc().entities(identity).newFactors.create({ friendlyName: 'New', factorType: 'totp' });
      expect((await refusal(svc().entities(identity).challenges.create({ factorSid: f.sid }))).code).toBe(60200);
      expect((await refusal(svc().entities(identity).newFactors.create({ friendlyName: 'P', factorType: 'push' }))).code).toBe(60200);
      expect((await refusal(svc().entities(identity).newFactors.create({ friendlyName: 'T', factorType: 'totp', 'config.codeLength': 12 }))).code).toBe(60200);
    });

    it('when the app brings the secret of a factor enrolled at Twilio then codes of that secret verify it (moving without re-enrolling)', async () => {
      const identity = randomUUID();
      const secret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
      const f = await svc().entities(identity).newFactors.create({ friendlyName: 'Moved', factorType: 'totp', 'binding.secret': secret, 'config.alg': 'sha256', 'config.codeLength': 8 });
      const code = new TOTP({ secret, digits: 8, algorithm: 'SHA256' }).generate();
      expect((await svc().entities(identity).factors(f.sid).update({ authPayload: code })).status).toBe('verified');
    });

    it('when an entity is deleted then its factors and challenges go with it', async () => {
      const { identity } = await verifiedFactor();
      await svc().entities(identity).remove();
      expect(await refusal(svc().entities(identity).fetch())).toMatchObject({ status: 404, code: 20404 });
    });
  });
});
