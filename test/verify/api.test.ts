import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppStore } from '../../src/verify/core/apps.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { authy, lastSms, nextUsPhone, oathtool, registerUser, secretFromUri } from './helpers.js';
import { coreDb } from '../helpers/contexts.js';

forEachDatabase((kind) => {
  describe(`Authy-compatible API on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(() => t.stop());

    it('when an SMS is requested then the outbox shows a code that verifies once', async () => {
      const id = await registerUser(t.url, t.apiKey, '201-555-0142');
      const s = await authy(t.url, t.apiKey, 'GET', `/protected/json/sms/${id}`, { force: 'true' });
      expect(s.status).toBe(200);
      expect(s.body).toEqual({ message: 'SMS token was sent', cellphone: '+1-XXX-XXX-XX42', success: true });
      const code = await lastSms(t.url, '+12015550142');
      expect(code).toMatch(/^\d{6}$/);
      const v = await authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${code}/${id}`);
      expect(v.status).toBe(200);
      expect(v.text).toContain('"token":"is valid"');
      expect(v.body).toMatchObject({ message: 'Token is valid.', token: 'is valid', success: 'true', device: { kind: 'sms' } });
      const again = await authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${code}/${id}`);
      expect(again.status).toBe(401);
      expect(again.body).toMatchObject({ error_code: '60020', token: 'is invalid', success: false });
      const events = await t.system.platform.audit.forUser(`authy:${id}`);
      expect(events.map((e) => [e.type, e.outcome, e.detail['kind']])).toEqual([
        ['second_factor', 'failure', 'sms'],
        ['second_factor', 'success', 'sms'],
        ['second_factor_sent', 'info', 'sms'],
      ]);
    });

    it('when the outbox is listed then it is newest first with id, to, body and created_at', async () => {
      const r = await fetch(`${t.url}/dev/sms.json`);
      const j = (await r.json()) as { messages: Record<string, unknown>[] };
      expect(j.messages.length).toBeGreaterThan(0);
      expect(Object.keys(j.messages[0]!).sort()).toEqual(['body', 'created_at', 'id', 'to']);
      const html = await fetch(`${t.url}/dev/sms`);
      expect(html.headers.get('content-type')).toContain('text/html');
      expect(await html.text()).toContain('+12015550142');
    });

    it('when a TOTP app enrols from the secret endpoint then its oathtool code verifies once', async () => {
      const id = await registerUser(t.url, t.apiKey, nextUsPhone(), 'totp@example.com');
      const s = await authy(t.url, t.apiKey, 'POST', `/protected/json/users/${id}/secret`, { qr_size: 200 });
      expect(s.status).toBe(200);
      const uri = s.body['uri'] as string;
      expect(uri).toMatch(/^otpauth:\/\/totp\//);
      expect(uri).toContain('totp%40example.com');
      expect(s.body['qr_code']).toMatch(/^data:image\/png;base64,/);
      const base32 = secretFromUri(uri);
      expect(base32).toMatch(/^[A-Z2-7]{32}$/); // 160 bits
      const code = oathtool(base32);
      const v = await authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${code}/${id}`);
      expect(v.status).toBe(200);
      expect(v.body['device']).toMatchObject({ kind: 'totp' });
      const replay = await authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${code}/${id}`);
      expect(replay.status).toBe(401);
      expect(replay.body).toMatchObject({ error_code: '60019', success: false });
      expect(v.body['device']).toMatchObject({ id: null, factor: 'totp_app', factor_id: s.body['id'], enrolled: true });
      // Every call makes a new secret (each enrolment its own), with its id (a Twofold extension).
      const s2 = await authy(t.url, t.apiKey, 'POST', `/protected/json/users/${id}/secret`, { label: 'Work laptop' });
      expect(secretFromUri(s2.body['uri'] as string)).not.toBe(base32);
      expect(s2.body['id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(s2.body['id']).not.toBe(s.body['id']);
      expect(s2.body['label']).toBe('Work laptop');
    });

    it('when a TOTP code is two steps away then it is refused', async () => {
      const id = await registerUser(t.url, t.apiKey);
      const s = await authy(t.url, t.apiKey, 'POST', `/protected/json/users/${id}/secret`);
      const base32 = secretFromUri(s.body['uri'] as string);
      const old = oathtool(base32, new Date(Date.now() - 65_000));
      const future = oathtool(base32, new Date(Date.now() + 65_000));
      const current = oathtool(base32);
      for (const code of [old, future].filter((c) => c !== current)) {
        const v = await authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${code}/${id}`);
        expect(v.status).toBe(401);
        expect(v.body['error_code']).toBe('60020');
      }
    });

    it.each(['/users/{id}/remove', '/users/delete/{id}', '/users/{id}/delete'])('when a user is deleted via %s then it is gone', async (path) => {
      const id = await registerUser(t.url, t.apiKey);
      const d = await authy(t.url, t.apiKey, 'POST', `/protected/json${path.replace('{id}', String(id))}`, { user_ip: '203.0.113.9' });
      expect(d.status).toBe(200);
      expect(d.body).toEqual({ message: 'User was added to remove.', success: true });
      const s = await authy(t.url, t.apiKey, 'GET', `/protected/json/users/${id}/status`);
      expect(s.status).toBe(404);
      expect(s.body).toEqual({ message: 'User not found.', success: false, errors: { message: 'User not found.' }, error_code: '60026' });
    });

    it("when another app asks for this app's user then it is not found", async () => {
      const id = await registerUser(t.url, t.apiKey);
      const { apiKey } = await new AppStore(coreDb(t.system.db), t.system.platform.clock).create({ name: 'Other', callbackUrl: null });
      for (const [m, p] of [
        ['GET', `/protected/json/users/${id}/status`],
        ['GET', `/protected/json/sms/${id}`],
        ['GET', `/protected/json/verify/123456/${id}`],
        ['POST', `/protected/json/users/${id}/remove`],
        ['POST', `/protected/json/users/${id}/secret`],
      ] as const) {
        const r = await authy(t.url, apiKey, m, p);
        expect(r.status, p).toBe(404);
        expect(r.body['error_code']).toBe('60026');
      }
    });

    it('when the API key is wrong or missing then 401 60001', async () => {
      for (const key of ['wrong-key', null]) {
        const r = await authy(t.url, key, 'GET', '/protected/json/app/details');
        expect(r.status).toBe(401);
        expect(r.body).toMatchObject({ error_code: '60001', success: false });
      }
      const q = await authy(t.url, null, 'GET', `/protected/json/app/details?api_key=${encodeURIComponent(t.apiKey)}`);
      expect(q.status).toBe(200);
    });

    it('when app details are asked then the built-in app answers with its name', async () => {
      const r = await authy(t.url, t.apiKey, 'GET', '/protected/json/app/details');
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ message: 'Application information.', success: true, app: { name: 'Twofold Demo', sms_enabled: true, plan: 'twofold' } });
      expect(Number.isInteger((r.body['app'] as { app_id: number }).app_id)).toBe(true);
      const row = await t.system.db.selectFrom('apps').selectAll().where('builtin', '=', 1).executeTakeFirstOrThrow();
      expect(row.callback_url).toBe(`${t.url}/authy/callback`);
    });

    it('when a call is requested then it answers as an unavailable channel', async () => {
      const id = await registerUser(t.url, t.apiKey);
      const r = await authy(t.url, t.apiKey, 'GET', `/protected/json/call/${id}`, { force: 'true' });
      expect(r.status).toBe(503);
      expect(r.body).toMatchObject({ success: false, error_code: '60096' });
    });

    it('when a phone verification is started then the texted code checks once', async () => {
      const start = await authy(t.url, t.apiKey, 'POST', '/protected/json/phones/verification/start', {
        via: 'sms',
        phone_number: '415-555-2672',
        country_code: 1,
        code_length: 6,
        locale: 'en',
      });
      expect(start.status).toBe(200);
      expect(start.body).toMatchObject({ message: 'Text message sent to +1 415 555 2672.', seconds_to_expire: 599, is_ported: false, success: true });
      expect(typeof start.body['uuid']).toBe('string');
      const code = await lastSms(t.url, '+14155552672');
      expect(code).toMatch(/^\d{6}$/);
      const check = (c: string) =>
        authy(t.url, t.apiKey, 'GET', '/protected/json/phones/verification/check', { phone_number: '4155552672', country_code: '1', verification_code: c });
      const wrong = await check(code === '000000' ? '111111' : '000000');
      expect(wrong.status).toBe(401);
      expect(wrong.body['error_code']).toBe('60022');
      const ok = await check(code!);
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ message: 'Verification code is correct.', success: true });
      const none = await check(code!);
      expect(none.status).toBe(404);
      expect(none.body['error_code']).toBe('60023');
    });

    it('when codes, secrets and keys have travelled through the API then none of them is in the logs', async () => {
      const id = await registerUser(t.url, t.apiKey, '201-555-0149');
      await authy(t.url, t.apiKey, 'GET', `/protected/json/sms/${id}`, { force: 'true' });
      const code = (await lastSms(t.url, '+12015550149'))!;
      await authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${code}/${id}`);
      const s = await authy(t.url, t.apiKey, 'POST', `/protected/json/users/${id}/secret`);
      const base32 = secretFromUri(s.body['uri'] as string);
      const totp = oathtool(base32);
      await authy(t.url, null, 'GET', `/protected/json/verify/${totp}/${id}?api_key=${encodeURIComponent(t.apiKey)}`);
      const logs = t.logs.join('\n');
      expect(logs).toContain('/verify/:token/:id');
      for (const secret of [code, base32, totp, t.apiKey]) expect(logs).not.toContain(secret);
    });

    it('when the path has a malformed percent-encoding then 400 with an Authy body', async () => {
      const r = await authy(t.url, t.apiKey, 'GET', '/protected/json/users/%E0%A4%A/status');
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
      expect(r.body['success']).toBe(false);
    });
  });
});
