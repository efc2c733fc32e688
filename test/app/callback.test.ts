import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signCallback } from '../../src/platform/authy-signature.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

/**
 * Threat: anyone can POST to /authy/callback. Only the verification service, holding the app's
 * API key, may record an approval, and a captured callback must not be replayable.
 */
forEachDatabase((kind) => {
  describe(`OneTouch callback authenticity on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(async () => {
      await t?.stop();
    });

    const body = (attempt = 'a'.repeat(32)) => ({
      authy_id: 1,
      callback_action: 'approval_request_status',
      device_uuid: 'dev',
      signature: 'sig',
      status: 'approved',
      uuid: 'some-uuid',
      approval_request: { transaction: { hidden_details: { login_attempt: attempt }, message: 'm' } },
    });

    async function post(b: unknown, headers: Record<string, string>) {
      const res = await fetch(`${t.url}/authy/callback`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(b) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    }
    const signed = (b: unknown, nonce = String(Math.floor(Date.now() / 1000)), key = t.apiKey) => ({
      'x-authy-signature-nonce': nonce,
      'x-authy-signature': signCallback({ apiKey: key, nonce, method: 'POST', url: `${t.url}/authy/callback`, body: b }),
    });

    it('when the signature is missing, made with another key or over another body then 401', async () => {
      const b = body();
      expect((await post(b, {})).status).toBe(401);
      expect((await post(b, signed(b, undefined, 'another-key-another-key'))).status).toBe(401);
      expect((await post({ ...b, status: 'denied' }, signed(b))).status).toBe(401);
    });

    it('when the nonce is older than 5 minutes then 401 even with a valid signature', async () => {
      const b = body();
      const old = String(Math.floor(Date.now() / 1000) - 301);
      expect((await post(b, signed(b, old))).status).toBe(401);
    });

    it('when a validly signed callback names no known attempt then 404, and its replay 401', async () => {
      const b = body();
      const h = signed(b);
      expect((await post(b, h)).status).toBe(404);
      expect((await post(b, h)).status).toBe(401);
    });

    it('when a validly signed body is not an approval status then 400', async () => {
      const b = { ...body(), status: 'expired' };
      expect((await post(b, signed(b))).status).toBe(400);
    });
  });
});
