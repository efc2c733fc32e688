// Threat: an app (a tenant of the service, holding only its own credentials) or the people typing
// into it abuse the Verify v2 API: point webhooks into the server's own network (SSRF), pump
// texts or mail past the caps by rotating addresses or services, flood the outbox with duplicate
// webhooks, or send inputs that break the server. Each is refused with Twilio's 4xx.
import { randomUUID } from 'node:crypto';
import { TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { builtinVerifyClient, type VerifyClient } from '../helpers/twilio-verify.js';

/** 0 when `p` succeeds, else the Twilio error code it was refused with. */
const codeOf = (p: Promise<unknown>) => p.then(() => 0, (e: { code: number }) => e.code);

describe('Verify v2 webhooks in production (SSRF)', () => {
  let t: TestSystem;
  let client: VerifyClient;
  beforeAll(async () => {
    t = await startTestSystem({ env: { NODE_ENV: 'production' } });
    ({ client } = await builtinVerifyClient(t));
  });
  afterAll(() => t.stop());

  it('when an app points a webhook at loopback, a private or link-local address, or over plain http, then 60200 and nothing is made', async () => {
    const svc = await client.verify.v2.services.create({ friendlyName: 'Acme Prod' });
    for (const url of ['http://127.0.0.1:8080/admin', 'http://localhost/x', 'http://[::1]/x', 'https://127.0.0.1:6443/api', 'https://10.0.0.1/x', 'https://169.254.169.254/latest', 'https://[fd00::1]/x', 'http://hooks.example.com/x']) {
      expect(await codeOf(client.verify.v2.services(svc.sid).webhooks.create({ friendlyName: 'x', eventTypes: ['*'], webhookUrl: url })), url).toBe(60200);
    }
    expect(await client.verify.v2.services(svc.sid).webhooks.list()).toEqual([]);
    // A public https name is accepted (the check above can fail); it is judged again when connecting.
    expect((await client.verify.v2.services(svc.sid).webhooks.create({ friendlyName: 'ok', eventTypes: ['*'], webhookUrl: 'https://hooks.example.com/x' })).status).toBe('enabled');
  });
});

forEachDatabase((kind) => {
  describe(`Verify v2 abuse on ${kind}`, () => {
    let t: TestSystem;
    let client: VerifyClient;
    let auth: string;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, env: { SMS_PER_IP_LIMIT: '3', SMS_PER_PHONE_LIMIT: '50' } });
      ({ client, auth } = await builtinVerifyClient(t));
    });
    afterAll(() => t.stop());

    it('when DeviceIp rotates within one IPv6 /64 then the per-IP SMS cap still counts one client', async () => {
      const svc = await client.verify.v2.services.create({ friendlyName: 'Acme Pump' });
      const outcomes: number[] = [];
      for (let i = 1; i <= 5; i++) outcomes.push(await codeOf(client.verify.v2.services(svc.sid).verifications.create({ to: `+1201555${3000 + i}`, channel: 'sms', deviceIp: `2001:db8:1:2::${i}` })));
      expect(outcomes).toEqual([0, 0, 0, 60203, 60203]);
      // Another /64 is another client.
      expect(await codeOf(client.verify.v2.services(svc.sid).verifications.create({ to: '+12015553009', channel: 'sms', deviceIp: '2001:db8:1:3::1' }))).toBe(0);
    });

    it('when many services mail codes to one address then it gets 10 an hour at most', async () => {
      const to = `victim.${randomUUID().slice(0, 8)}@example.com`;
      const outcomes: number[] = [];
      for (let s = 0; s < 3; s++) {
        const svc = await client.verify.v2.services.create({ friendlyName: `Acme Mail ${s}` });
        for (let i = 0; i < 4; i++) outcomes.push(await codeOf(client.verify.v2.services(svc.sid).verifications.create({ to, channel: 'email' })));
      }
      expect(outcomes.filter((c) => c === 0)).toHaveLength(10);
      expect(outcomes.filter((c) => c === 60203)).toHaveLength(2);
    });

    it('when names hold NUL or other control characters, or digits of another script, then 60200, never a 500', async () => {
      const svc = await client.verify.v2.services.create({ friendlyName: 'Acme Names' });
      const identity = randomUUID();
      expect(await codeOf(client.verify.v2.services(svc.sid).entities(identity).newFactors.create({ friendlyName: 'a\u0000b', factorType: 'totp' }))).toBe(60200);
      expect(await codeOf(client.verify.v2.services(svc.sid).webhooks.create({ friendlyName: 'a\u0000b', eventTypes: ['*'], webhookUrl: 'https://hooks.example.com/x' }))).toBe(60200);
      expect(await codeOf(client.verify.v2.services.create({ friendlyName: 'Call １８００５５５０１９９' }))).toBe(60200);
      expect(await codeOf(client.verify.v2.services(svc.sid).verifications.create({ to: '+12015553100', channel: 'sms', customFriendlyName: 'Call 18005550199' }))).toBe(60200);
      expect(await codeOf(client.verify.v2.services(svc.sid).verificationChecks.create({ to: 'abc\u0000', code: '123456' }))).toBe(20404);
      const res = await fetch(`${t.url}/v2/Services/${svc.sid}/Webhooks?FriendlyName=x&WebhookUrl=https://h.example.com&EventTypes=*`, { method: 'POST', headers: { authorization: auth } });
      expect(res.status).toBe(400);
      const list = await fetch(`${t.url}/v2/Services/${svc.sid}/Entities/${identity}/Challenges?FactorSid=YF%00`, { headers: { authorization: auth } });
      expect(list.status).toBeLessThan(500);
    });

    it('when a service gets more than 10 webhooks, or several name one URL, then the 11th is refused and one POST per URL is queued', async () => {
      const svc = await client.verify.v2.services.create({ friendlyName: 'Acme Many' });
      for (let i = 0; i < 10; i++) await client.verify.v2.services(svc.sid).webhooks.create({ friendlyName: `w${i}`, eventTypes: ['*'], webhookUrl: 'https://hooks.example.com/same' });
      expect(await codeOf(client.verify.v2.services(svc.sid).webhooks.create({ friendlyName: 'w10', eventTypes: ['*'], webhookUrl: 'https://hooks.example.com/other' }))).toBe(60200);
      const before = await t.system.db.selectFrom('callback_outbox').select('id').where('format', '=', 'twilio').execute();
      await client.verify.v2.services(svc.sid).entities(randomUUID()).newFactors.create({ friendlyName: 'Phone', factorType: 'totp' });
      const after = await t.system.db.selectFrom('callback_outbox').select('id').where('format', '=', 'twilio').execute();
      expect(after.length - before.length).toBe(1);
    });

    it('when a factor changes its time step then codes of the new step verify it (the replay guard restarts, it does not lock the factor out)', async () => {
      const svc = await client.verify.v2.services.create({ friendlyName: 'Acme Steps' });
      const identity = randomUUID();
      const f = await client.verify.v2.services(svc.sid).entities(identity).newFactors.create({ friendlyName: 'Phone', factorType: 'totp' });
      const secret = new URL((f.binding as { uri: string }).uri).searchParams.get('secret')!;
      await client.verify.v2.services(svc.sid).entities(identity).factors(f.sid).update({ authPayload: new TOTP({ secret }).generate() });
      await client.verify.v2.services(svc.sid).entities(identity).factors(f.sid).update({ 'config.timeStep': 60 });
      const ch = await client.verify.v2.services(svc.sid).entities(identity).challenges.create({ factorSid: f.sid, authPayload: new TOTP({ secret, period: 60 }).generate() });
      expect(ch.status).toBe('approved');
    });
  });
});
