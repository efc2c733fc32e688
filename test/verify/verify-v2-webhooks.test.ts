// Verify v2 Webhooks: the factor and challenge events of a service POSTed to the app, signed as
// Twilio signs (X-Twilio-Signature, which twilio.validateRequest accepts), through the durable
// callback outbox (retried until the receiver takes them).
import { randomUUID } from 'node:crypto';
import { TOTP } from 'otpauth';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { builtinVerifyClient, webhookReceiver, type VerifyClient } from '../helpers/twilio-verify.js';

const codeOf = (uri: string, at = Date.now()) => {
  const q = new URL(uri).searchParams;
  return new TOTP({ secret: q.get('secret')!, digits: 6, period: 30 }).generate({ timestamp: at });
};

forEachDatabase((kind) => {
  describe(`Verify v2 webhooks on ${kind}`, () => {
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

    const eventsAt = (path: string) => hooks.got.filter((g) => g.path === path);

    it('when a factor is made and verified and its challenges answered or left to expire then each event reaches the webhook, signed as Twilio signs', async () => {
      const svc = await client.verify.v2.services.create({ friendlyName: 'Acme Hooks' });
      const hook = await client.verify.v2.services(svc.sid).webhooks.create({ friendlyName: 'All', eventTypes: ['*'], webhookUrl: `${hooks.url}/all` });
      expect(hook).toMatchObject({ status: 'enabled', version: 'v2', eventTypes: ['*'], webhookMethod: 'POST' });
      expect(hook.sid).toMatch(/^YW[0-9a-f]{32}$/);
      const identity = randomUUID();
      const f = await client.verify.v2.services(svc.sid).entities(identity).newFactors.create({ friendlyName: 'Ada phone', factorType: 'totp' });
      const uri = (f.binding as { uri: string }).uri;
      await client.verify.v2.services(svc.sid).entities(identity).factors(f.sid).update({ authPayload: codeOf(uri, Date.now() - 30_000) });
      const ch = await client.verify.v2.services(svc.sid).entities(identity).challenges.create({ factorSid: f.sid, authPayload: codeOf(uri), hiddenDetails: JSON.stringify({ ip: '203.0.113.9' }) });
      expect(ch.status).toBe('approved');
      const late = await client.verify.v2.services(svc.sid).entities(identity).challenges.create({ factorSid: f.sid, expirationDate: new Date(Date.now() + 1500) });
      await new Promise((ok) => setTimeout(ok, 1700));
      expect((await client.verify.v2.services(svc.sid).entities(identity).challenges(late.sid).fetch()).status).toBe('expired');
      await client.verify.v2.services(svc.sid).entities(identity).factors(f.sid).remove();

      const types = await eventually(async () => {
        const seen = eventsAt('/all').map((g) => g.params.type);
        return seen.length >= 5 ? seen : undefined;
      }, 10_000);
      expect(types.sort()).toEqual(['challenge.approved', 'challenge.expired', 'factor.created', 'factor.deleted', 'factor.verified']);
      for (const g of eventsAt('/all')) {
        expect(g.contentType).toBe('application/x-www-form-urlencoded');
        expect(g.params).toMatchObject({ service_sid: svc.sid, entity_identity: identity, factor_sid: f.sid, factor_type: 'totp' });
        expect(twilio.validateRequest(t.apiKey, g.signature!, `${hooks.url}/all`, g.params)).toBe(true);
        // The check can fail: another key, or a changed parameter, does not validate.
        expect(twilio.validateRequest('another-key', g.signature!, `${hooks.url}/all`, g.params)).toBe(false);
        expect(twilio.validateRequest(t.apiKey, g.signature!, `${hooks.url}/all`, { ...g.params, type: 'forged' })).toBe(false);
      }
      const approved = eventsAt('/all').find((g) => g.params.type === 'challenge.approved')!;
      expect(approved.params).toMatchObject({ challenge_sid: ch.sid, challenge_status: 'approved', hidden_details: JSON.stringify({ ip: '203.0.113.9' }) });
    });

    it('when a webhook asks for some events, or is disabled, then it gets those only, or none', async () => {
      const svc = await client.verify.v2.services.create({ friendlyName: 'Acme Some' });
      await client.verify.v2.services(svc.sid).webhooks.create({ friendlyName: 'Approvals', eventTypes: ['challenge.approved'], webhookUrl: `${hooks.url}/some` });
      const off = await client.verify.v2.services(svc.sid).webhooks.create({ friendlyName: 'Off', eventTypes: ['*'], webhookUrl: `${hooks.url}/off` });
      expect((await client.verify.v2.services(svc.sid).webhooks(off.sid).update({ status: 'disabled' })).status).toBe('disabled');
      const identity = randomUUID();
      const f = await client.verify.v2.services(svc.sid).entities(identity).newFactors.create({ friendlyName: 'Phone', factorType: 'totp' });
      const uri = (f.binding as { uri: string }).uri;
      await client.verify.v2.services(svc.sid).entities(identity).factors(f.sid).update({ authPayload: codeOf(uri, Date.now() - 30_000) });
      await client.verify.v2.services(svc.sid).entities(identity).challenges.create({ factorSid: f.sid, authPayload: codeOf(uri) });
      await eventually(async () => eventsAt('/some').length === 1, 10_000);
      expect(eventsAt('/some')[0]!.params.type).toBe('challenge.approved');
      await new Promise((ok) => setTimeout(ok, 700));
      expect(eventsAt('/off')).toEqual([]);
      expect((await client.verify.v2.services(svc.sid).webhooks.list()).map((w) => w.friendlyName).sort()).toEqual(['Approvals', 'Off']);
      expect(await client.verify.v2.services(svc.sid).webhooks(off.sid).remove()).toBe(true);
    });

    it('when the receiver fails at first then the event is delivered again until it takes it', async () => {
      let calls = 0;
      const flaky = await webhookReceiver(() => (++calls === 1 ? 503 : 200));
      try {
        const svc = await client.verify.v2.services.create({ friendlyName: 'Acme Retry' });
        await client.verify.v2.services(svc.sid).webhooks.create({ friendlyName: 'Flaky', eventTypes: ['factor.created'], webhookUrl: `${flaky.url}/hook` });
        await client.verify.v2.services(svc.sid).entities(randomUUID()).newFactors.create({ friendlyName: 'Phone', factorType: 'totp' });
        await eventually(async () => flaky.got.length >= 2, 10_000);
        expect(flaky.got[0]!.params.uuid).toBe(flaky.got[1]!.params.uuid);
      } finally {
        await flaky.close();
      }
    });

    it('when a webhook is made with a bad URL or event then 400 60200', async () => {
      const svc = await client.verify.v2.services.create({ friendlyName: 'Acme Bad' });
      const code = async (p: Promise<unknown>) => p.then(() => 0, (e: { code: number }) => e.code);
      expect(await code(client.verify.v2.services(svc.sid).webhooks.create({ friendlyName: 'x', eventTypes: ['factor.exploded'], webhookUrl: `${hooks.url}/x` }))).toBe(60200);
      expect(await code(client.verify.v2.services(svc.sid).webhooks.create({ friendlyName: 'x', eventTypes: ['*'], webhookUrl: 'ftp://example.com/x' }))).toBe(60200);
      expect(await code(client.verify.v2.services(svc.sid).webhooks.create({ friendlyName: 'x', eventTypes: ['*'], webhookUrl: 'https://user:pw@example.com/x' }))).toBe(60200);
    });
  });
});
