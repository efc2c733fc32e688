// POST /authy/callback (src/app/routes/callback.ts): the verification service's signed OneTouch
// callback. The signature is the credential (no session, no CSRF check); every refusal of it is the
// same 401, a validly signed body that is no approval status 400, an unknown attempt 404.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signCallback } from '../../../src/platform/authy-signature.js';
import { forEachDatabase } from '../../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../../helpers/system.js';
import { appUser, expectError, passwordStep, userWithDevice } from './fixtures.js';

forEachDatabase((kind) => {
  describe(`POST /authy/callback on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(async () => {
      await t?.stop();
    });

    /** Post as the service does: JSON, no Origin, no cookie. */
    async function post(body: unknown, headers: Record<string, string>) {
      const res = await fetch(`${t.url}/authy/callback`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    }
    const nowNonce = () => String(Math.floor(Date.now() / 1000));
    const signed = (b: unknown, nonce = nowNonce(), key = t.apiKey) => ({
      'x-authy-signature-nonce': nonce,
      'x-authy-signature': signCallback({ apiKey: key, nonce, method: 'POST', url: `${t.url}/authy/callback`, body: b }),
    });
    const refused = (r: { status: number; body: Record<string, unknown> }) => expectError(r, 401, 'BAD_SIGNATURE', { message: 'Invalid signature' });

    /** A login waiting for an approval on a device, and the callback the service would send for it. */
    async function waitingLogin() {
      const { u } = await userWithDevice(t);
      const { b } = await passwordStep(t, u);
      const user = await appUser(t, u.email);
      const attempt = await t.system.db
        .selectFrom('app_login_attempts')
        .selectAll()
        .where('user_id', '=', user.id)
        .where('approval_status', '=', 'pending')
        .executeTakeFirstOrThrow();
      const callback = (status: string, over: Record<string, unknown> = {}) => ({
        authy_id: user.authy_id,
        callback_action: 'approval_request_status',
        device_uuid: 'dev',
        status,
        uuid: attempt.approval_uuid,
        approval_request: { transaction: { hidden_details: { login_attempt: attempt.id }, message: 'm' } },
        ...over,
      });
      const status = async () => (await b.get('/authy/status')).body.status;
      return { b, attempt, callback, status, authyId: user.authy_id! };
    }

    it('when the signature headers are missing or malformed then 401 BAD_SIGNATURE, before the body is even parsed', async () => {
      const body = { status: 'approved' };
      const good = signed(body);
      refused(await post(body, {}));
      refused(await post(body, { 'x-authy-signature': good['x-authy-signature'] }));
      refused(await post(body, { 'x-authy-signature-nonce': good['x-authy-signature-nonce'] }));
      refused(await post(body, { ...good, 'x-authy-signature-nonce': 'abc' }));
      refused(await post(body, { ...good, 'x-authy-signature-nonce': '1'.repeat(13) }));
      refused(await post(body, { ...good, 'x-authy-signature': 'not base64!' }));
      refused(await post(body, { ...good, 'x-authy-signature': 'A'.repeat(201) }));
      // Headers come first: a malformed body without them is still the signature's refusal.
      refused(await post('{"status":', {}));
    });

    it('when the signature is made with another key, over another body or nonce, or is mangled then 401 BAD_SIGNATURE and nothing is recorded', async () => {
      const { callback, status } = await waitingLogin();
      const approve = callback('approved');
      const good = signed(approve);
      const sig = good['x-authy-signature'];
      refused(await post(approve, { ...good, 'x-authy-signature': (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1) }));
      refused(await post(approve, signed(approve, undefined, randomBytes(24).toString('base64url'))));
      refused(await post(approve, { ...good, 'x-authy-signature-nonce': String(Number(good['x-authy-signature-nonce']) - 1) }));
      refused(await post({ ...approve, device_uuid: 'other' }, good));
      expect(await status()).toBe('pending');
    });

    it('when the nonce is more than 300 s old or ahead then 401 BAD_SIGNATURE even with a valid signature', async () => {
      const { callback, status } = await waitingLogin();
      const approve = callback('approved');
      refused(await post(approve, signed(approve, String(Math.floor(Date.now() / 1000) - 301))));
      refused(await post(approve, signed(approve, String(Math.floor(Date.now() / 1000) + 301))));
      expect(await status()).toBe('pending');
    });

    it('when a genuine callback is replayed then the copy is 401 BAD_SIGNATURE, a fresh one for the answered attempt is not recorded, and the login completes once', async () => {
      const { b, callback, status } = await waitingLogin();
      const approve = callback('approved');
      const h = signed(approve);
      const first = await post(approve, h);
      expect(first).toEqual({ status: 200, body: { ok: true, recorded: true } });
      expect(await status()).toBe('approved');
      refused(await post(approve, h));
      const deny = callback('denied');
      expect(await post(deny, signed(deny))).toEqual({ status: 200, body: { ok: true, recorded: false } });
      expect(await status()).toBe('approved');
      const done = await b.post('/session/complete', {});
      expect(done.status).toBe(200);
      expect(done.body).toEqual({ state: 'logged_in' });
    });

    it('when a validly signed callback names an unknown attempt, another approval of a real one, or another service user then 404 NOT_FOUND', async () => {
      const { callback, status, authyId } = await waitingLogin();
      const notFound = { message: 'No such login attempt' };
      const unknown = callback('approved', { approval_request: { transaction: { hidden_details: { login_attempt: randomBytes(16).toString('hex') } } } });
      expectError(await post(unknown, signed(unknown)), 404, 'NOT_FOUND', notFound);
      const otherUuid = callback('approved', { uuid: randomBytes(16).toString('hex') });
      expectError(await post(otherUuid, signed(otherUuid)), 404, 'NOT_FOUND', notFound);
      const otherUser = callback('approved', { authy_id: authyId + 1000 });
      expectError(await post(otherUser, signed(otherUser)), 404, 'NOT_FOUND', notFound);
      expect(await status()).toBe('pending');
    });

    it.each([
      ['a status other than approved or denied', { status: 'expired' }],
      ['no status', { status: undefined }],
      ['no uuid', { uuid: undefined }],
      ['an attempt id that is not 32 hex digits', { approval_request: { transaction: { hidden_details: { login_attempt: 'not-an-attempt' } } } }],
      ['no approval request', { approval_request: undefined }],
    ])('when a validly signed body has %s then 400 VALIDATION and nothing is recorded', async (_what, over) => {
      const { callback, status } = await waitingLogin();
      const body = JSON.parse(JSON.stringify(callback('approved', over))) as Record<string, unknown>;
      expectError(await post(body, signed(body)), 400, 'VALIDATION', { message: 'Callback body is not an approval status' });
      expect(await status()).toBe('pending');
    });

    it('when the body is not a JSON object (an array) then 401 BAD_SIGNATURE, and when it is no JSON object or array at all then 400 MALFORMED_BODY', async () => {
      const headers = signed({});
      refused(await post([1, 2], headers));
      expectError(await post('null', headers), 400, 'MALFORMED_BODY');
      expectError(await post('"approved"', headers), 400, 'MALFORMED_BODY');
      expectError(await post('{"status":', headers), 400, 'MALFORMED_BODY', { message: 'Request body is not valid JSON' });
    });
  });
});
