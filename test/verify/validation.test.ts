import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { authy, registerUser } from './helpers.js';

/** Every refusal is an Authy error body with a 4xx status, never a 5xx. */
function expectAuthyError(r: { status: number; body: Record<string, unknown> }, status: number, code?: string) {
  expect(r.status).toBe(status);
  expect(r.body['success']).toBe(false);
  expect(typeof r.body['message']).toBe('string');
  expect((r.body['errors'] as { message: string }).message).toBe(r.body['message']);
  expect(r.body['error_code']).toMatch(/^\d{5}$/);
  if (code) expect(r.body['error_code']).toBe(code);
}

forEachDatabase((kind) => {
  describe(`input validation on ${kind}`, () => {
    let t: TestSystem;
    let id: number;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
      id = await registerUser(t.url, t.apiKey);
    });
    afterAll(() => t.stop());

    const register = (params: Record<string, string> | string) => authy(t.url, t.apiKey, 'POST', '/protected/json/users/new', params);

    it.each([
      ['letters', 'call-me-maybe', '1'],
      ['too short', '123', '1'],
      ['unknown country code', '2015550123', '999'],
      ['country code not a number', '2015550123', 'US1'],
      ['international number of another country', '+33612345678', '1'],
      ['huge', '1'.repeat(5000), '1'],
    ])('when the cellphone is invalid (%s) then 400 60027 with errors.cellphone', async (_name, cellphone, cc) => {
      const r = await register({ 'user[email]': 'a@example.com', 'user[cellphone]': cellphone, 'user[country_code]': cc });
      expectAuthyError(r, 400, '60027');
      expect(r.body['message']).toBe('User was not valid');
      expect((r.body['errors'] as Record<string, string>)['cellphone']).toBe('is invalid');
    });

    it.each([['no-at-sign'], ['a@b'], ['x'.repeat(300) + '@example.com'], ['ünï@例え']])('when the email is %s then 400 60027 with errors.email', async (email) => {
      const r = await register({ 'user[email]': email, 'user[cellphone]': '2015550123', 'user[country_code]': '1' });
      expectAuthyError(r, 400, '60027');
      expect((r.body['errors'] as Record<string, string>)['email']).toBe('is invalid');
    });

    it('when fields are arrays or objects instead of strings then 400, not 500', async () => {
      const r = await authy(t.url, t.apiKey, 'POST', '/protected/json/users/new', 'user[email][]=a@example.com&user[email][]=b@example.com&user[cellphone][x]=1&user[country_code]=1', {
        'content-type': 'application/x-www-form-urlencoded',
      });
      expectAuthyError(r, 400, '60027');
      const j = await register(JSON.stringify({ user: { email: ['a@example.com'], cellphone: { a: 1 }, country_code: [1] } }));
      expectAuthyError(j, 400, '60027');
      const s = await authy(t.url, t.apiKey, 'POST', `/protected/json/users/${id}/secret`, JSON.stringify({ label: ['x'], qr_size: { a: 1 } }));
      expectAuthyError(s, 400, '60004');
    });

    it('when the JSON body is malformed then 400 60002', async () => {
      expectAuthyError(await register('{"user": {"email": '), 400, '60002');
    });

    it('when the body is too large then 413 with an Authy body', async () => {
      expectAuthyError(await register(JSON.stringify({ user: { email: 'x'.repeat(100_000) } })), 413);
    });

    it.each(['abc', '-1', '1.5', '9'.repeat(400), '%F0%9F%98%80', '0x10'])('when the user id is %s then 404 60026', async (bad) => {
      expectAuthyError(await authy(t.url, t.apiKey, 'GET', `/protected/json/users/${bad}/status`), 404, '60026');
      expectAuthyError(await authy(t.url, t.apiKey, 'GET', `/protected/json/sms/${bad}`), 404, '60026');
      expectAuthyError(await authy(t.url, t.apiKey, 'GET', `/protected/json/verify/123456/${bad}`), 404, '60026');
    });

    it('when the user does not exist then 404 60026 "User not found."', async () => {
      const r = await authy(t.url, t.apiKey, 'GET', '/protected/json/users/999999999/status');
      expectAuthyError(r, 404, '60026');
      expect(r.body['message']).toBe('User not found.');
    });

    it.each(['12345', '12345678901', 'abcdef', '12 456', '9'.repeat(3000)])('when the token is %s then 401 60020', async (token) => {
      const r = await authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${encodeURIComponent(token)}/${id}`);
      expectAuthyError(r, 401, '60020');
      expect(r.body['token']).toBe('is invalid');
    });

    it.each([
      ['qr_size', '5'],
      ['qr_size', '99999999'],
      ['qr_size', 'big'],
      ['label', ''],
      ['label', 'x'.repeat(500)],
      ['label', 'line\nbreak'],
    ])('when the secret endpoint gets %s=%j then 400 60004', async (name, value) => {
      expectAuthyError(await authy(t.url, t.apiKey, 'POST', `/protected/json/users/${id}/secret`, { [name]: value }), 400, '60004');
    });

    it('when phone verification parameters are wrong then 400 with an Authy body', async () => {
      const start = (p: Record<string, string>) => authy(t.url, t.apiKey, 'POST', '/protected/json/phones/verification/start', p);
      expectAuthyError(await start({ via: 'pigeon', phone_number: '2015550123', country_code: '1' }), 400, '60004');
      expectAuthyError(await start({ via: 'sms', phone_number: '2015550123', country_code: '1', code_length: '3' }), 400, '60004');
      expectAuthyError(await start({ via: 'sms', phone_number: '2015550123', country_code: '1', code_length: '11' }), 400, '60004');
      expectAuthyError(await start({ via: 'sms', phone_number: 'nope', country_code: '1' }), 400, '60033');
      expectAuthyError(await start({ via: 'sms', phone_number: '2015550123' }), 400, '60033');
      const check = await authy(t.url, t.apiKey, 'GET', '/protected/json/phones/verification/check', { phone_number: '2015550123', country_code: '1', verification_code: 'abcd' });
      expectAuthyError(check, 401, '60022');
    });

    it('when an unknown path under /protected/json is asked then 404 with an Authy body', async () => {
      expectAuthyError(await authy(t.url, t.apiKey, 'GET', '/protected/json/no/such/thing'), 404);
    });
  });
});
