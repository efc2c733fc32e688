// The Verify v2-compatible API driven by the real `twilio` package, its Verify domain pointed at
// Twofold: what an app written for Twilio Verify does, with only the base URL changed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitMail, latestSmsCode } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { corePlatform } from '../helpers/contexts.js';
import { AppStore } from '../../src/verify/core/apps.js';
import { builtinVerifyClient, refusal, verifyClientAt, type VerifyClient } from '../helpers/twilio-verify.js';


let phoneSeq = 0;
const newPhone = () => `+1201555${String(2000 + ((process.pid * 7 + phoneSeq++ * 13) % 7000)).padStart(4, '0')}`;

forEachDatabase((kind) => {
  describe(`Twilio Verify v2 API through the twilio package on ${kind}`, () => {
    let t: TestSystem;
    let client: VerifyClient;
    let accountSid: string;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, env: { SMS_PER_PHONE_LIMIT: '50' } });
      ({ client, accountSid } = await builtinVerifyClient(t));
    });
    afterAll(() => t.stop());

    const service = (name = 'Acme Shop') => client.verify.v2.services.create({ friendlyName: name });

    it('when a service is created then it is fetched, listed, updated and deleted as Verify does', async () => {
      const s = await service('Acme Login');
      expect(s.sid).toMatch(/^VA[0-9a-f]{32}$/);
      expect(s).toMatchObject({ accountSid, friendlyName: 'Acme Login', codeLength: 6, customCodeEnabled: false });
      expect(s.dateCreated).toBeInstanceOf(Date);
      expect((await client.verify.v2.services(s.sid).fetch()).friendlyName).toBe('Acme Login');
      const updated = await client.verify.v2.services(s.sid).update({ codeLength: 8, doNotShareWarningEnabled: true });
      expect(updated).toMatchObject({ codeLength: 8, doNotShareWarningEnabled: true });
      expect((await client.verify.v2.services.list()).map((x) => x.sid)).toContain(s.sid);
      expect(await client.verify.v2.services(s.sid).remove()).toBe(true);
      expect(await refusal(client.verify.v2.services(s.sid).fetch())).toMatchObject({ status: 404, code: 20404 });
    });

    it('when a list is longer than a page then the twilio package follows next_page_url to the end', async () => {
      const made = new Set<string>();
      for (let i = 0; i < 5; i++) made.add((await service(`Paged ${i}`)).sid);
      const seen = (await client.verify.v2.services.list({ pageSize: 2 })).map((s) => s.sid);
      for (const sid of made) expect(seen).toContain(sid);
      expect(new Set(seen).size).toBe(seen.length);
    });

    it('when the credentials are wrong then 401 with Twilio error 20003', async () => {
      const wrongKey = verifyClientAt(t.url, accountSid, 'not-the-key');
      expect(await refusal(wrongKey.verify.v2.services.list())).toMatchObject({ status: 401, code: 20003 });
      const wrongSid = verifyClientAt(t.url, `AC${'0'.repeat(32)}`, t.apiKey);
      expect(await refusal(wrongSid.verify.v2.services.list())).toMatchObject({ status: 401, code: 20003 });
      const res = await fetch(`${t.url}/v2/Services`);
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ code: 20003, message: 'Authenticate', more_info: 'https://www.twilio.com/docs/errors/20003', status: 401 });
    });

    it('when an SMS verification is sent then the code from the outbox approves it once', async () => {
      const s = await service();
      const to = newPhone();
      const v = await client.verify.v2.services(s.sid).verifications.create({ to, channel: 'sms' });
      expect(v).toMatchObject({ status: 'pending', valid: false, to, channel: 'sms', serviceSid: s.sid, accountSid });
      expect(v.sid).toMatch(/^VE[0-9a-f]{32}$/);
      expect(v.sendCodeAttempts).toHaveLength(1);
      const { code } = await latestSmsCode(t.url, to);
      expect(code).toHaveLength(6);
      const check = await client.verify.v2.services(s.sid).verificationChecks.create({ to, code });
      expect(check).toMatchObject({ status: 'approved', valid: true, sid: v.sid });
      // Approved: it is over, and a second check finds nothing (Verify answers 20404).
      expect(await refusal(client.verify.v2.services(s.sid).verificationChecks.create({ to, code }))).toMatchObject({ status: 404, code: 20404 });
      expect((await client.verify.v2.services(s.sid).verifications(v.sid).fetch()).status).toBe('approved');
    });

    it('when wrong codes are checked then pending, then max_attempts_reached at the 5th, then 60202; the right code no longer works', async () => {
      const s = await service();
      const to = newPhone();
      const v = await client.verify.v2.services(s.sid).verifications.create({ to, channel: 'sms' });
      const { code } = await latestSmsCode(t.url, to);
      const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
      for (let i = 1; i <= 4; i++) expect(await client.verify.v2.services(s.sid).verificationChecks.create({ verificationSid: v.sid, code: wrong })).toMatchObject({ status: 'pending', valid: false });
      expect((await client.verify.v2.services(s.sid).verificationChecks.create({ to, code: wrong })).status).toBe('max_attempts_reached');
      expect(await refusal(client.verify.v2.services(s.sid).verificationChecks.create({ to, code }))).toMatchObject({ status: 429, code: 60202 });
    });

    it('when a second verification is asked for while one is pending then the same code is sent again, and the 6th send in 10 minutes is 60203', async () => {
      const s = await service();
      const to = newPhone();
      const first = await client.verify.v2.services(s.sid).verifications.create({ to, channel: 'sms' });
      const a = await latestSmsCode(t.url, to);
      const again = await client.verify.v2.services(s.sid).verifications.create({ to, channel: 'sms' });
      const b = await latestSmsCode(t.url, to);
      expect(again.sid).toBe(first.sid);
      expect(again.sendCodeAttempts).toHaveLength(2);
      expect(b.code).toBe(a.code);
      for (let i = 3; i <= 5; i++) await client.verify.v2.services(s.sid).verifications.create({ to, channel: 'sms' });
      expect(await refusal(client.verify.v2.services(s.sid).verifications.create({ to, channel: 'sms' }))).toMatchObject({ status: 429, code: 60203 });
    });

    it('when a verification is canceled then its code no longer checks (20404), and a new one has a new code', async () => {
      const s = await service();
      const to = newPhone();
      const v = await client.verify.v2.services(s.sid).verifications.create({ to, channel: 'sms' });
      const { code } = await latestSmsCode(t.url, to);
      expect((await client.verify.v2.services(s.sid).verifications(v.sid).update({ status: 'canceled' })).status).toBe('canceled');
      expect(await refusal(client.verify.v2.services(s.sid).verificationChecks.create({ to, code }))).toMatchObject({ status: 404, code: 20404 });
      expect(await refusal(client.verify.v2.services(s.sid).verifications(v.sid).update({ status: 'canceled' }))).toMatchObject({ status: 404 });
      const next = await client.verify.v2.services(s.sid).verifications.create({ to, channel: 'sms' });
      expect(next.sid).not.toBe(v.sid);
    });

    it('when the channel is email then the code goes through the mail outbox and checks', async () => {
      const s = await service('Acme Mail');
      const to = `Ada.${Date.now()}@Example.com`;
      const v = await client.verify.v2.services(s.sid).verifications.create({ to, channel: 'email' });
      expect(v).toMatchObject({ status: 'pending', channel: 'email', to: to.toLowerCase() });
      const mail = await awaitMail(t.url, to.toLowerCase(), 'Acme Mail verification code');
      const code = /: (\d{6})/.exec(mail.text)![1]!;
      expect((await client.verify.v2.services(s.sid).verificationChecks.create({ to, code })).status).toBe('approved');
    });

    it('when the channel is call, whatsapp or sna then Twilio\'s "delivery channel disabled" (60223); an unknown one 60200', async () => {
      const s = await service();
      for (const channel of ['call', 'whatsapp', 'sna']) {
        expect(await refusal(client.verify.v2.services(s.sid).verifications.create({ to: newPhone(), channel }))).toMatchObject({ status: 400, code: 60223 });
      }
      expect(await refusal(client.verify.v2.services(s.sid).verifications.create({ to: newPhone(), channel: 'pigeon' }))).toMatchObject({ status: 400, code: 60200 });
    });

    it('when parameters are wrong then 400 60200 naming the parameter, never a 500', async () => {
      const s = await service();
      const v2 = client.verify.v2.services(s.sid);
      expect((await refusal(v2.verifications.create({ to: '2015550123', channel: 'sms' }))).message).toMatch(/To/);
      expect((await refusal(v2.verifications.create({ to: 'not-an-email', channel: 'email' }))).code).toBe(60200);
      expect((await refusal(client.verify.v2.services.create({ friendlyName: 'Call 5551234567' }))).code).toBe(60200);
      expect((await refusal(client.verify.v2.services.create({ friendlyName: 'Ok', codeLength: 12 }))).code).toBe(60200);
      expect((await refusal(client.verify.v2.services.create({ friendlyName: 'Ok', customCodeEnabled: true }))).code).toBe(60200);
      expect((await refusal(v2.verificationChecks.create({ code: '123456' }))).code).toBe(60200);
      expect((await refusal(v2.verifications.create({ to: newPhone(), channel: 'sms', customCode: '123456' }))).code).toBe(60200);
    });

    it('when raw requests carry a repeated key, an oversized body or an unknown path then 4xx in Twilio\'s shape, never a 500', async () => {
      const s = await service();
      const auth = { authorization: `Basic ${Buffer.from(`${accountSid}:${t.apiKey}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' };
      const post = (path: string, body: string) => fetch(`${t.url}/v2${path}`, { method: 'POST', headers: auth, body });
      const repeated = await post(`/Services/${s.sid}/Verifications`, 'To=%2B12015550123&To=%2B12015550124&Channel=sms');
      expect(repeated.status).toBe(400);
      expect(await repeated.json()).toMatchObject({ code: 60200, status: 400 });
      expect((await post(`/Services/${s.sid}/Verifications`, `To=${'1'.repeat(20_000)}&Channel=sms`)).status).toBe(413);
      const unknown = await post('/Nothing/Here', 'a=b');
      expect(unknown.status).toBe(404);
      expect(await unknown.json()).toMatchObject({ code: 20404 });
      const badSid = await fetch(`${t.url}/v2/Services/VA..%2Fx/Verifications/VE1`, { headers: auth });
      expect(badSid.status).toBe(404);
    });

    it("when an app names another app's service then 404: a service belongs to the app that made it", async () => {
      const s = await service();
      const cp = corePlatform(t.system.platform);
      const { app, apiKey } = await new AppStore(cp.db.db, cp.clock).create({ name: 'Other shop', callbackUrl: null });
      const other = verifyClientAt(t.url, app.accountSid, apiKey);
      expect(await refusal(other.verify.v2.services(s.sid).fetch())).toMatchObject({ status: 404, code: 20404 });
      expect(await refusal(other.verify.v2.services(s.sid).verifications.create({ to: newPhone(), channel: 'sms' }))).toMatchObject({ status: 404 });
      expect((await other.verify.v2.services.list()).map((x) => x.sid)).not.toContain(s.sid);
    });
  });
});
