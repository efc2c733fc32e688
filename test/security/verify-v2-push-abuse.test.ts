// Attacks on Verify v2 push factors found in review: a burst of forged requests racing past the
// per-network failure budget (each one an ECDSA verification and database reads), a device that
// fills the nonce table with its own valid requests, and challenge text that forges lines in the
// CLI authenticator's display.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { builtinVerifyClient, type VerifyClient } from '../helpers/twilio-verify.js';
import { enrolled } from '../verify/push-helpers.js';
import { describeChallenge } from '../../src/authenticator/verify-push-cli.js';
import type { PushChallenge, PushFactorState } from '../../src/authenticator/verify-push.js';
import { PUSH_REQUESTS_PER_FACTOR } from '../../src/verify/v2/push-auth.js';

/** The path a device signs for `rest` under its entity. */
const entityPathOf = (s: { service_sid: string; identity: string }, rest: string) => `/v2/Services/${s.service_sid}/Entities/${s.identity}${rest}`;
let lastNet = 0;
/** A network of its own for each test (TRUST_PROXY=1: the address is X-Forwarded-For's). */
const freshNetwork = () => `10.${Math.floor(++lastNet / 250)}.${lastNet % 250}.7`;

forEachDatabase((kind) => {
  describe(`Verify v2 push abuse on ${kind}`, () => {
    let t: TestSystem;
    let client: VerifyClient;
    let svc: string;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, env: { TRUST_PROXY: '1' } });
      ({ client } = await builtinVerifyClient(t));
      svc = (await client.verify.v2.services.create({ friendlyName: 'Acme Abuse' })).sid;
    });
    afterAll(async () => {
      await t.stop();
    });

    it('push-failure-budget-race: when 150 forged requests arrive at once from one network then at most 30 are checked (signature verified), the rest are 429', async () => {
      const a = await enrolled(client, t.url, svc);
      const net = freshNetwork();
      const rest = '/Challenges';
      const forged = () => ({ ...a.device.signedHeaders('GET', entityPathOf(a.device.state, rest), undefined), 'x-twofold-signature': 'A'.repeat(86), 'x-forwarded-for': net });
      const statuses = await Promise.all(Array.from({ length: 150 }, () => a.device.request('GET', rest, undefined, forged()).then((r) => r.status)));
      // A 401 is a request that reached the signature check; the budget is 30 refusals per network.
      expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(30);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(120);
      // A good device on another network is not affected, and its success gives nothing back to the flooder.
      expect((await a.device.request('GET', rest, undefined, { ...a.device.signedHeaders('GET', entityPathOf(a.device.state, rest), undefined), 'x-forwarded-for': freshNetwork() })).status).toBe(200);
    });

    it('push-access-token-guess-race: when 100 made-up access tokens arrive at once from one network then at most 30 are looked up, the rest are 429', async () => {
      const net = freshNetwork();
      const url = `${t.url}/v2/Services/${svc}/Entities/${randomUUID()}/Factors`;
      const statuses = await Promise.all(
        Array.from({ length: 100 }, () =>
          fetch(url, { method: 'POST', headers: { authorization: `Basic ${Buffer.from(`token:${randomUUID()}`).toString('base64')}`, 'x-forwarded-for': net }, body: 'FactorType=push' }).then((r) => r.status),
        ),
      );
      expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(30);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(70);
    });

    it('push-nonce-table-flood: when one device keeps sending valid signed requests then its nonces stored stay bounded and it is refused with 429', async () => {
      const a = await enrolled(client, t.url, svc);
      const rest = '/Challenges';
      const statuses: number[] = [];
      // One network for all: the factor's own budget stops them, not its network's.
      const net = freshNetwork();
      const batches = Math.ceil((PUSH_REQUESTS_PER_FACTOR + 40) / 25);
      for (let batch = 0; batch < batches; batch++) {
        statuses.push(
          ...(await Promise.all(
            Array.from({ length: 25 }, () => a.device.request('GET', rest, undefined, { ...a.device.signedHeaders('GET', entityPathOf(a.device.state, rest), undefined), 'x-forwarded-for': net }).then((r) => r.status)),
          )),
        );
      }
      const stored = await t.system.db.selectFrom('verify_v2_push_nonces').select((eb) => eb.fn.countAll<number>().as('n')).where('factor_sid', '=', a.device.state.factor_sid).executeTakeFirstOrThrow();
      expect(Number(stored.n)).toBeLessThanOrEqual(PUSH_REQUESTS_PER_FACTOR);
      expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(PUSH_REQUESTS_PER_FACTOR);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(40);
      expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
      // Another device on the same network is not refused for it.
      const b = await enrolled(client, t.url, svc);
      expect((await b.device.request('GET', rest, undefined, { ...b.device.signedHeaders('GET', entityPathOf(b.device.state, rest), undefined), 'x-forwarded-for': net })).status).toBe(200);
    });
  });
});

describe('push-challenge-terminal-spoofing', () => {
  const factor: PushFactorState = { url: 'https://twofold.example', service_sid: `VA${'0'.repeat(32)}`, identity: 'user-0001', factor_sid: `YF${'1'.repeat(32)}`, friendly_name: 'Phone', private_key: {} };
  const challenge = (details: PushChallenge['details'], o: Partial<PushChallenge> = {}): PushChallenge => ({
    sid: `YC${'2'.repeat(32)}`,
    factor_sid: factor.factor_sid,
    status: 'pending',
    details,
    expiration_date: '2030-01-01T00:00:00Z',
    date_created: '2030-01-01T00:00:00Z',
    ...o,
  });
  // Nothing that moves the cursor to a new line, reorders text or hides characters.
  const unsafe = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

  it("when a challenge's message or fields carry line breaks then the display keeps one line each and no forged line appears", () => {
    const lines = describeChallenge(
      challenge({
        message: 'Log in to Acme\n  Location: Paris, France (your usual place)\r\n  Status: pending; expires never',
        fields: [{ label: 'Amount\u2028  Payee', value: 'EUR 10\tto Alice\u2029  Approve: twofold authenticator verify-approve YC' }],
      }),
      factor,
    );
    expect(lines).toHaveLength(4);
    for (const l of lines) expect(l).not.toMatch(unsafe);
    expect(lines.filter((l) => l.includes('Status:'))).toHaveLength(2); // the forged text, kept on the message's line, and the real one
    expect(lines[3]).toMatch(/^ {2}Status: pending; expires 2030-/);
  });

  it('when a challenge carries invisible or reordering characters (LRM, RLM, ALM, zero-width, BOM) then they are shown as ?', () => {
    const lines = describeChallenge(challenge({ message: 'Pay \u200e\u200f\u061c\u200b\u200d\ufeffAlice\u2066', fields: [{ label: 'To', value: '\u202eecilA' }] }), factor);
    for (const l of lines) expect(l).not.toMatch(unsafe);
    expect(lines[1]).toBe('  Pay ??????Alice?');
  });

  it("when a malicious service sends escapes in a challenge's sid, status or expiry then they are not written to the terminal", () => {
    const lines = describeChallenge(challenge({ message: 'Log in', fields: [] }, { sid: 'YC\u001b]52;c;ZWNobyBwd25lZA==\u0007', status: 'pending\u001b[2J', expiration_date: '\u009b31m2030' }), factor);
    for (const l of lines) expect(l).not.toMatch(unsafe);
  });
});
