import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { lastSms, oathtool, secretFromUri, authy as call } from './helpers.js';

// The published Authy clients, unchanged, pointed at Twofold: if they accept our answers (and
// reject our refusals the way they rejected Authy's), an Authy integration moves by URL alone.
const require = createRequire(import.meta.url);
type Callback = (err: unknown, res: Record<string, unknown>) => void;
interface AuthyNode {
  register_user(email: string, cellphone: string, countryCode: string, cb: Callback): void;
  user_status(id: number, cb: Callback): void;
  request_sms(id: number, force: boolean, cb: Callback): void;
  verify(id: number, token: string, cb: Callback): void;
  delete_user(id: number, cb: Callback): void;
}
const authyFactory = require('authy') as (key: string, url: string) => AuthyNode;
type AsyncFn = (...args: unknown[]) => Promise<Record<string, unknown>>;
const AuthyClient = require('authy-client') as {
  Client: new (o: { key: string }, p: { host: string; timeout?: number }) => Record<string, AsyncFn>;
};

function promisify(fn: (cb: Callback) => void): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));
}

forEachDatabase((kind) => {
  describe(`Authy clients against Twofold on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(() => t.stop());

    describe('the `authy` package', () => {
      it('when a user registers, gets an SMS and sends its code then verify succeeds', async () => {
        const a = authyFactory(t.apiKey, t.url);
        const reg = await promisify((cb) => a.register_user('node@example.com', '201-555-0171', '1', cb));
        const id = (reg['user'] as { id: number }).id;
        expect(reg['message']).toBe('User created successfully.');
        const sms = await promisify((cb) => a.request_sms(id, true, cb));
        expect(sms['message']).toBe('SMS token was sent');
        const code = await lastSms(t.url, '+12015550171');
        const ok = await promisify((cb) => a.verify(id, code!, cb));
        expect(ok['token']).toBe('is valid');
        const status = await promisify((cb) => a.user_status(id, cb));
        expect((status['status'] as { authy_id: number }).authy_id).toBe(id);
        const del = await promisify((cb) => a.delete_user(id, cb));
        expect(del['message']).toBe('User was added to remove.');
        await expect(promisify((cb) => a.user_status(id, cb))).rejects.toMatchObject({ error_code: '60026', success: false });
      });

      it('when the key is wrong then the callback gets the 60001 body', async () => {
        const a = authyFactory('not-the-key', t.url);
        await expect(promisify((cb) => a.user_status(1, cb))).rejects.toMatchObject({ error_code: '60001', message: 'Invalid API key' });
      });

      it('when the token is wrong then the callback gets the 60020 body', async () => {
        const a = authyFactory(t.apiKey, t.url);
        const reg = await promisify((cb) => a.register_user('wrong@example.com', '201-555-0172', '1', cb));
        const id = (reg['user'] as { id: number }).id;
        await expect(promisify((cb) => a.verify(id, '000000', cb))).rejects.toMatchObject({ error_code: '60020', token: 'is invalid' });
      });
    });

    describe('the `authy-client` package', () => {
      const client = () => new AuthyClient.Client({ key: t.apiKey }, { host: t.url });

      it('when a user registers, enrols a TOTP app and sends its code then verifyToken resolves', async () => {
        const c = client();
        const reg = await c['registerUser']!({ countryCode: 'US', email: 'client@example.com', phone: '201-555-0173' });
        const authyId = (reg['user'] as { id: number }).id;
        const secret = await call(t.url, t.apiKey, 'POST', `/protected/json/users/${authyId}/secret`);
        const code = oathtool(secretFromUri(secret.body['uri'] as string));
        const ok = await c['verifyToken']!({ authyId, token: code });
        expect(ok).toMatchObject({ message: 'Token is valid.', token: 'is valid' });
        await expect(c['verifyToken']!({ authyId, token: code })).rejects.toMatchObject({ name: 'HttpError', code: 401, body: { error_code: '60019' } });
      });

      it('when SMS, status, app details and removal are asked then every response passes its asserts', async () => {
        const c = client();
        const reg = await c['registerUser']!({ countryCode: '1', email: 'client2@example.com', phone: '2015550174' });
        const authyId = (reg['user'] as { id: number }).id;
        const sms = await c['requestSms']!({ authyId }, { force: true });
        expect(sms['cellphone']).toBe('+1-XXX-XXX-XX74');
        const code = await lastSms(t.url, '+12015550174');
        await expect(c['verifyToken']!({ authyId, token: code })).resolves.toMatchObject({ token: 'is valid' });
        const status = await c['getUserStatus']!({ authyId });
        expect(status['status']).toMatchObject({ authy_id: authyId, phone_number: 'XXX-XXX-0174' });
        const details = await c['getApplicationDetails']!();
        expect(details['message']).toBe('Application information.');
        await expect(c['deleteUser']!({ authyId })).resolves.toMatchObject({ message: 'User was added to remove.' });
        await expect(c['getUserStatus']!({ authyId })).rejects.toMatchObject({ name: 'HttpError', code: 404, body: { error_code: '60026' } });
      });

      it('when a phone verification starts and is checked then both resolve', async () => {
        const c = client();
        await expect(c['startPhoneVerification']!({ countryCode: 'US', phone: '415-555-2673', via: 'sms' })).resolves.toMatchObject({ is_cellphone: true });
        const code = await lastSms(t.url, '+14155552673');
        await expect(c['verifyPhone']!({ countryCode: 'US', phone: '415-555-2673', token: code })).resolves.toMatchObject({
          message: 'Verification code is correct.',
        });
      });

      it('when the key is wrong then it rejects with HttpError 401 / 60001', async () => {
        const c = new AuthyClient.Client({ key: 'wrong' }, { host: t.url });
        await expect(c['getApplicationDetails']!()).rejects.toMatchObject({ name: 'HttpError', code: 401, body: { error_code: '60001' } });
      });

      it('when the user is unknown or the token wrong then it rejects with 404 / 401', async () => {
        const c = client();
        await expect(c['getUserStatus']!({ authyId: 987654321 })).rejects.toMatchObject({ code: 404, body: { error_code: '60026' } });
        const reg = await c['registerUser']!({ countryCode: 'US', email: 'client3@example.com', phone: '201-555-0175' });
        const authyId = (reg['user'] as { id: number }).id;
        await expect(c['verifyToken']!({ authyId, token: '1234567' })).rejects.toMatchObject({ code: 401, body: { error_code: '60020', token: 'is invalid' } });
        await expect(c['verifyToken']!({ authyId, token: '12' })).rejects.toMatchObject({ name: 'ValidationFailedError' });
      });
    });
  });
});
