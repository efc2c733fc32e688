// Threat: anyone can POST to /authy/callback — a forged (bad MAC), stale or replayed callback
// must never record an approval; only the service, holding the app's API key, may, once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signCallback } from '../../src/platform/authy-signature.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { appUserId, auditRows, passwordStep, pendingFor, userWithDevice } from './helpers.js';

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

    it('when the signature is missing, made with another key, over another body or mangled then 401', async () => {
      const b = body();
      expect((await post(b, {})).status).toBe(401);
      const good = signed(b);
      const sig = good['x-authy-signature'];
      const flipped = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
      expect((await post(b, { ...good, 'x-authy-signature': flipped })).status).toBe(401);
      expect((await post(b, { ...good, 'x-authy-signature-nonce': String(Number(good['x-authy-signature-nonce']) - 1) })).status).toBe(401);
      expect((await post(b, signed(b, undefined, 'another-key-another-key'))).status).toBe(401);
      expect((await post({ ...b, status: 'denied' }, signed(b))).status).toBe(401);
    });

    it('when the nonce is older (or further ahead) than 300 s then 401 even with a valid signature', async () => {
      const b = body();
      const old = String(Math.floor(Date.now() / 1000) - 301);
      expect((await post(b, signed(b, old))).status).toBe(401);
      const ahead = String(Math.floor(Date.now() / 1000) + 301);
      expect((await post(b, signed(b, ahead))).status).toBe(401);
    });

    it('when a genuine callback for a real login is replayed then the copy is refused and nothing changes a second time', async () => {
      const { u, device } = await userWithDevice(t);
      const login = await passwordStep(t, u, 'approve');
      await pendingFor(device, 1);
      const db = t.system.db;
      const attempt = await db.selectFrom('app_login_attempts').selectAll().where('user_id', '=', await appUserId(t, u.email)).where('approval_status', '=', 'pending').executeTakeFirstOrThrow();
      const deny = { ...body(attempt.id), uuid: attempt.approval_uuid!, status: 'denied' };
      delete (deny as { authy_id?: number }).authy_id;
      const h = signed(deny);
      const first = await post(deny, h);
      expect(first).toEqual({ status: 200, body: { ok: true, recorded: true } });
      expect((await login.b.get('/authy/status')).body.status).toBe('denied');
      const replays = await Promise.all(Array.from({ length: 5 }, () => post(deny, h)));
      expect(replays.map((r) => r.status)).toEqual([401, 401, 401, 401, 401]);
      // A fresh, validly signed "approved" cannot flip the recorded answer either.
      const approve = { ...deny, status: 'approved' };
      expect((await post(approve, signed(approve))).body).toEqual({ ok: true, recorded: false });
      expect((await login.b.get('/authy/status')).body.status).toBe('denied');
      expect((await login.b.post('/session/complete', {})).status).toBe(409);
      const answered = (await auditRows(t, `app-user:${await appUserId(t, u.email)}`)).filter((e) => e.type === 'approval_answered');
      expect(answered).toHaveLength(1);
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
