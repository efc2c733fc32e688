// Threats to Verify v2 push factors: a replayed or foreign access token, a challenge answered by
// another factor's key, a replayed signed request, a burst of approvals of one challenge, and
// networks that keep failing signatures.
import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { builtinVerifyClient, type VerifyClient } from '../helpers/twilio-verify.js';
import { authenticator, enrolled, freshStateFile, pushClients, webhookReceiver } from '../verify/push-helpers.js';
import type { PushFactorClient } from '../../src/authenticator/verify-push.js';

/** The path a device signs for `rest` under its entity, and the form body it sends. */
const entityPath = (d: PushFactorClient, rest: string) => `/v2/Services/${d.state.service_sid}/Entities/${d.state.identity}${rest}`;
const formOf = (o: Record<string, string>) => new URLSearchParams(o).toString();

forEachDatabase((kind) => {
  describe(`Verify v2 push threats on ${kind}`, () => {
    let t: TestSystem;
    let client: VerifyClient;
    let hooks: Awaited<ReturnType<typeof webhookReceiver>>;
    let svc: string;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
      ({ client } = await builtinVerifyClient(t));
      hooks = await webhookReceiver();
      svc = (await client.verify.v2.services.create({ friendlyName: 'Acme Threats' })).sid;
      await client.verify.v2.services(svc).webhooks.create({ friendlyName: 'All', eventTypes: ['*'], webhookUrl: `${hooks.url}/t` });
    });
    afterAll(async () => {
      await hooks.close();
      await t.stop();
    });
    const challenge = (identity: string, factorSid: string, message = 'Log in') => client.verify.v2.services(svc).entities(identity).challenges.create({ factorSid, 'details.message': message });
    const statusOf = async (identity: string, sid: string) => (await client.verify.v2.services(svc).entities(identity).challenges(sid).fetch()).status;
    // An identity no factor was made for has no entity either (404).
    const factorCount = (identity: string) =>
      client.verify.v2
        .services(svc)
        .entities(identity)
        .factors.list()
        .then((l) => l.length, (e: { status: number }) => (e.status === 404 ? 0 : Promise.reject(e)));

    it('when an access token is replayed, raced, expired or used for another identity or service then it is refused (401 20003) and makes no factor', async () => {
      const identity = randomUUID();
      const tok = await client.verify.v2.services(svc).accessTokens.create({ identity, factorType: 'push' });
      const enrol = (token: string, id = identity, service = svc) => authenticator(['verify-enrol', '--url', t.url, '--service', service, '--identity', id, '--token', token, '--name', 'Phone'], freshStateFile());
      // Another identity of the same service, and the same identity of another service of the same app.
      const other = randomUUID();
      const r1 = await enrol(tok.token, other);
      expect([r1.code, r1.err.join()]).toEqual([1, expect.stringMatching(/401 20003/)]);
      const svc2 = (await client.verify.v2.services.create({ friendlyName: 'Acme Other' })).sid;
      expect((await enrol(tok.token, identity, svc2)).code).toBe(1);
      expect(await factorCount(other)).toBe(0);
      // Its own use works once; the replay is refused.
      expect((await enrol(tok.token)).code).toBe(0);
      const replay = await enrol(tok.token);
      expect([replay.code, replay.err.join()]).toEqual([1, expect.stringMatching(/401 20003/)]);
      expect(await factorCount(identity)).toBe(1);
      // Five devices racing one token: one factor.
      const raced = randomUUID();
      const tok2 = await client.verify.v2.services(svc).accessTokens.create({ identity: raced, factorType: 'push' });
      const codes = await Promise.all(Array.from({ length: 5 }, () => enrol(tok2.token, raced).then((r) => r.code)));
      expect(codes.filter((c) => c === 0)).toHaveLength(1);
      expect(await factorCount(raced)).toBe(1);
      // An expired token.
      const late = randomUUID();
      const tok3 = await client.verify.v2.services(svc).accessTokens.create({ identity: late, factorType: 'push' });
      await t.system.db.updateTable('verify_v2_access_tokens').set({ expires_at: Date.now() - 1 }).where('sid', '=', tok3.sid).execute();
      expect((await enrol(tok3.token, late)).code).toBe(1);
      // A made-up token.
      expect((await enrol('x'.repeat(43), late)).code).toBe(1);
      expect(await factorCount(late)).toBe(0);
    });

    it('when a device sends malformed inputs then 4xx with Twilio\'s body, never 500, and the token stays usable; it is stored only as its SHA-256', async () => {
      const identity = randomUUID();
      const tok = await client.verify.v2.services(svc).accessTokens.create({ identity, factorType: 'push' });
      const url = `${t.url}/v2/Services/${svc}/Entities/${identity}/Factors`;
      const auth = { authorization: `Basic ${Buffer.from(`token:${tok.token}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' };
      const post = (body: string) => fetch(url, { method: 'POST', headers: auth, body }).then(async (r) => [r.status, ((await r.json()) as { code: number }).code]);
      const good = { FactorType: 'push', FriendlyName: 'Phone', 'Binding.Alg': 'ES256', 'Binding.PublicKey': 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE' + 'A'.repeat(88), 'Config.NotificationPlatform': 'none' };
      expect(await post(formOf({ ...good, 'Binding.Alg': 'RS256' }))).toEqual([400, 60200]);
      expect(await post(formOf(good))).toEqual([400, 60200]);
      expect(await post(formOf({ ...good, 'Binding.PublicKey': 'x'.repeat(300) }))).toEqual([400, 60200]);
      expect(await post(formOf({ ...good, 'Config.NotificationPlatform': 'fcm' }))).toEqual([400, 60200]);
      expect(await post(formOf({ ...good, FriendlyName: 'a\u0000b' }))).toEqual([400, 60200]);
      expect(await post(`${formOf(good)}&FactorType=push`)).toEqual([400, 60200]);
      expect(await post(Array.from({ length: 60 }, (_, i) => `p${i}=1`).join('&'))).toEqual([400, 20001]);
      expect(await post('x='.padEnd(20_000, 'y'))).toEqual([413, 20001]);
      const row = await t.system.db.selectFrom('verify_v2_access_tokens').selectAll().where('sid', '=', tok.sid).executeTakeFirstOrThrow();
      expect(row.token_hash).toBe(createHash('sha256').update(tok.token).digest('hex'));
      expect(JSON.stringify(row)).not.toContain(tok.token);
      expect(row.consumed_at).toBeNull();
      expect((await authenticator(['verify-enrol', '--url', t.url, '--service', svc, '--identity', identity, '--token', tok.token], freshStateFile())).code).toBe(0);
    });

    it("when a challenge is answered with another factor's key then it is refused and stays pending", async () => {
      const a = await enrolled(client, t.url, svc);
      const b = await enrolled(client, t.url, svc);
      const ch = await challenge(a.identity, a.device.state.factor_sid);
      const shown = { sid: ch.sid, details: { message: 'Log in', fields: [] } };
      // B, signing as itself, asks for A's challenge under A's entity: its factor is not A's.
      const path = entityPath(a.device, `/Challenges/${ch.sid}`);
      const asB = formOf(b.device.answerBody(shown, 'approved'));
      const r1 = await a.device.request('POST', `/Challenges/${ch.sid}`, b.device.answerBody(shown, 'approved'), b.device.signedHeaders('POST', path, asB));
      expect(r1.status).toBe(401);
      // B's key claiming to be A's factor.
      const r2 = await a.device.request('POST', `/Challenges/${ch.sid}`, b.device.answerBody(shown, 'approved'), b.device.signedHeaders('POST', path, asB, { factorSid: a.device.state.factor_sid }));
      expect(r2.status).toBe(401);
      // A's signed request carrying B's AuthPayload.
      const r3 = await a.device.request('POST', `/Challenges/${ch.sid}`, b.device.answerBody(shown, 'approved'));
      expect([r3.status, ((await r3.json()) as { code: number }).code]).toEqual([400, 60200]);
      // A's key over other details than the challenge's (a swapped message).
      const r4 = await a.device.request('POST', `/Challenges/${ch.sid}`, a.device.answerBody({ sid: ch.sid, details: { message: 'Something else', fields: [] } }, 'approved'));
      expect(r4.status).toBe(400);
      // B under its own entity cannot see A's challenge either.
      expect((await b.device.request('GET', `/Challenges/${ch.sid}`)).status).toBe(404);
      expect(await statusOf(a.identity, ch.sid)).toBe('pending');
      // A's own answer still works.
      expect(await a.device.answer(shown, 'approved')).toBe('approved');
    });

    it('when a signed request is replayed, stale or tampered with then 401, and an answered or expired challenge cannot be answered again', async () => {
      const a = await enrolled(client, t.url, svc);
      const ch = await challenge(a.identity, a.device.state.factor_sid);
      const rest = `/Challenges/${ch.sid}`;
      const headers = a.device.signedHeaders('GET', entityPath(a.device, rest), undefined);
      expect((await a.device.request('GET', rest, undefined, headers)).status).toBe(200);
      expect((await a.device.request('GET', rest, undefined, headers)).status).toBe(401);
      const stale = a.device.signedHeaders('GET', entityPath(a.device, rest), undefined, { timestamp: Math.floor(Date.now() / 1000) - 120 });
      expect((await a.device.request('GET', rest, undefined, stale)).status).toBe(401);
      // The signature covers the body: a denial's headers on an approval's body.
      const shown = { sid: ch.sid, details: { message: 'Log in', fields: [] } };
      const denial = a.device.signedHeaders('POST', entityPath(a.device, rest), formOf(a.device.answerBody(shown, 'denied')));
      expect((await a.device.request('POST', rest, a.device.answerBody(shown, 'approved'), denial)).status).toBe(401);
      // A replay of a whole answer.
      const body = a.device.answerBody(shown, 'denied');
      const once = a.device.signedHeaders('POST', entityPath(a.device, rest), formOf(body));
      expect((await a.device.request('POST', rest, body, once)).status).toBe(200);
      expect((await a.device.request('POST', rest, body, once)).status).toBe(401);
      expect(await statusOf(a.identity, ch.sid)).toBe('denied');
      const again = await a.device.request('POST', rest, a.device.answerBody(shown, 'approved'));
      expect(again.status).toBe(400);
      expect(await statusOf(a.identity, ch.sid)).toBe('denied');
      const short = await client.verify.v2.services(svc).entities(a.identity).challenges.create({ factorSid: a.device.state.factor_sid, 'details.message': 'Log in', expirationDate: new Date(Date.now() + 1200) });
      await new Promise((ok) => setTimeout(ok, 1400));
      expect((await a.device.request('POST', `/Challenges/${short.sid}`, a.device.answerBody({ sid: short.sid, details: shown.details }, 'approved'))).status).toBe(400);
      expect(await statusOf(a.identity, short.sid)).toBe('expired');
    });

    it('when 10 approvals of one challenge race then exactly one changes it and one webhook tells it', async () => {
      const a = await enrolled(client, t.url, svc);
      const ch = await challenge(a.identity, a.device.state.factor_sid, 'Burst');
      const shown = { sid: ch.sid, details: { message: 'Burst', fields: [] } };
      const results = await Promise.all(Array.from({ length: 10 }, () => a.device.request('POST', `/Challenges/${ch.sid}`, a.device.answerBody(shown, 'approved')).then((r) => r.status)));
      expect(results.filter((s) => s === 200)).toHaveLength(1);
      expect(results.filter((s) => s !== 200).every((s) => s === 400)).toBe(true);
      expect(await statusOf(a.identity, ch.sid)).toBe('approved');
      await eventually(async () => hooks.got.some((g) => g.params.challenge_sid === ch.sid), 10_000);
      await new Promise((ok) => setTimeout(ok, 700));
      expect(hooks.got.filter((g) => g.params.challenge_sid === ch.sid && g.params.type === 'challenge.approved')).toHaveLength(1);
    });

    it('when a network keeps sending bad signatures then it is refused with 429 for a while, good signatures included', async () => {
      const a = await enrolled(client, t.url, svc);
      const rest = '/Challenges';
      const forged = { ...a.device.signedHeaders('GET', entityPath(a.device, rest), undefined), 'x-twofold-signature': 'A'.repeat(86) };
      let status = 0;
      for (let i = 0; i < 40 && status !== 429; i++) status = (await a.device.request('GET', rest, undefined, { ...forged, 'x-twofold-nonce': `n-${i}-${randomUUID()}` })).status;
      expect(status).toBe(429);
      const good = await a.device.request('GET', rest);
      expect(good.status).toBe(429);
      expect(Number(good.headers.get('retry-after'))).toBeGreaterThan(0);
      // The app's own API is not the device's: it still answers.
      expect((await client.verify.v2.services(svc).fetch()).sid).toBe(svc);
      expect(pushClients(a.state)).toHaveLength(1);
    });
  });
});
