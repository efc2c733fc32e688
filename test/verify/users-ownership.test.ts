// Threat: two people behind one phone number (a family phone, or a number recycled by the carrier
// to a new subscriber) share one service user, so one holds the other's second factor: their
// authenticators, approvals and lockout. A service user is (app, phone, email), never shared.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateDevice, DeviceClient } from '../../src/authenticator/client.js';
import { loadConfig } from '../../src/platform/config.js';
import { SecretBox } from '../../src/platform/crypto.js';
import { newApiKey } from '../../src/verify/core/apps.js';
import { hashApiKey } from '../../src/verify/authy-http.js';
import { legacySecretAd, TotpSecrets } from '../../src/verify/core/totp-secrets.js';
import { base32Decode, base32Encode, generateTotp } from '../../src/verify/core/totp.js';
import { forEachDatabase, pgUrl } from '../helpers/databases.js';
import { databaseBefore } from '../helpers/migrated-before.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { activationLink, createApproval } from '../onetouch/helpers.js';
import { authy, nextUsPhone } from './helpers.js';
import { coreDb, corePlatform } from '../helpers/contexts.js';

const register = async (t: { url: string }, key: string, email: string, cellphone: string) => {
  const r = await authy(t.url, key, 'POST', '/protected/json/users/new', { 'user[email]': email, 'user[cellphone]': cellphone, 'user[country_code]': '1' });
  expect(r.status).toBe(200);
  return (r.body['user'] as { id: number }).id;
};

forEachDatabase((kind) => {
  describe(`service users on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(() => t.stop());

    const verify = (id: number, c: string) => authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${c}/${id}`);
    const codeOf = (d: DeviceClient) => generateTotp(base32Decode(d.state.totp.secret), Date.now());
    const enrol = async (id: number) => new DeviceClient(await activateDevice(await activationLink(t.url, t.apiKey, id), { name: `device of ${id}` }));

    it('when one phone is registered with two emails then they are two users, each with its own devices, secrets, approvals and lockout', async () => {
      const phone = nextUsPhone();
      const ann = await register(t, t.apiKey, 'ann@example.com', phone);
      const bob = await register(t, t.apiKey, 'bob@example.com', phone);
      expect(bob).not.toBe(ann);

      const annDevice = await enrol(ann);
      const bobDevice = await enrol(bob);
      expect(annDevice.state.totp.secret).not.toBe(bobDevice.state.totp.secret);
      const listed = async (id: number) =>
        ((await (await fetch(`${t.url}/v1/users/${id}/devices`, { headers: { 'x-authy-api-key': t.apiKey } })).json()) as { devices: { id: string }[] }).devices.map((d) => d.id);
      expect(await listed(ann)).toEqual([annDevice.state.device_id]);
      expect(await listed(bob)).toEqual([bobDevice.state.device_id]);
      // Ann's code is not Bob's code.
      expect((await verify(bob, codeOf(annDevice))).status).toBe(401);

      const request = await createApproval(t.url, t.apiKey, ann, { message: 'Ann logs in' });
      expect(request.status).toBe(200);
      const uuid = (request.body['approval_request'] as { uuid: string }).uuid;
      expect((await annDevice.pending()).map((r) => r.uuid)).toContain(uuid);
      expect((await bobDevice.pending()).map((r) => r.uuid)).not.toContain(uuid);

      // Ten wrong codes lock Ann; Bob, on the same phone, is not locked.
      const wrong = String((Number(codeOf(annDevice)) + 500_000) % 1_000_000).padStart(6, '0');
      for (let i = 0; i < 10; i++) await verify(ann, wrong);
      expect((await verify(ann, codeOf(annDevice))).status).toBe(401);
      expect((await verify(bob, codeOf(bobDevice))).status).toBe(200);
    });

    it('when the same phone and email register again, also 20 times at once, then every answer is the same id', async () => {
      const phone = nextUsPhone();
      const first = await register(t, t.apiKey, 'carol@example.com', phone);
      expect(await register(t, t.apiKey, 'Carol@Example.com', phone)).toBe(first);
      const burstPhone = nextUsPhone();
      const ids = await Promise.all(Array.from({ length: 20 }, () => register(t, t.apiKey, 'dave@example.com', burstPhone)));
      expect(new Set(ids).size).toBe(1);
    });
  });

  describe(`migration 008 on ${kind} with users from before`, () => {
    it('when a database of 007 is migrated then its users keep their id and legacy secret, and same phone + other email becomes a new user', async () => {
      const { db, dataDir, pgSchema } = await databaseBefore(kind, '008');
      const config = loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...(pgSchema ? { DATABASE_URL: pgUrl() } : {}) });
      // An app as that release made it (no Account SID yet: migration 018 gives it one).
      const apiKey = newApiKey();
      const app = await db.db
        .insertInto('apps')
        .values({ name: 'Old App', api_key_hash: hashApiKey(apiKey), callback_url: null, builtin: 0, created_at: 1 } as { name: string; api_key_hash: string; callback_url: null; builtin: number; created_at: number; account_sid: string })
        .returning('id')
        .executeTakeFirstOrThrow();
      const user = await db.db
        .insertInto('verify_users')
        .values({ app_id: app.id, email: 'erin@example.com', country_code: '1', region: 'US', phone_e164: '+12015550177', totp_secret: null, locked_until: null, created_at: 1 })
        .returning('id')
        .executeTakeFirstOrThrow();
      const raw = Buffer.alloc(20, 9);
      const sealed = new SecretBox(config.encryptionKey).seal(raw, legacySecretAd(user.id));
      await db.db.updateTable('verify_users').set({ totp_secret: sealed }).where('id', '=', user.id).execute();
      const oldDevice = '00000000-0000-4000-8000-000000000177';
      await db.db.insertInto('devices').values({ id: oldDevice, user_id: user.id, name: 'old phone', public_key: '{}', created_at: 1, last_seen_at: null, revoked_at: null }).execute();
      await db.close();

      const t = await startTestSystem({ db: kind, dataDir, ...(pgSchema ? { pgSchema } : {}) });
      try {
        // Migration 018 gave the app of before an Account SID of its own.
        expect((await t.system.db.selectFrom('apps').select('account_sid').where('id', '=', app.id).executeTakeFirstOrThrow()).account_sid).toMatch(/^AC[0-9a-f]{32}$/);
        const legacy = base32Encode(raw);
        const ok = await authy(t.url, apiKey, 'GET', `/protected/json/verify/${generateTotp(raw, Date.now())}/${user.id}`);
        expect(ok.status).toBe(200);
        expect(ok.body['device']).toMatchObject({ factor: 'legacy', factor_id: 'legacy' });
        // The device enrolled before keeps the secret it was given.
        expect((await new TotpSecrets(corePlatform(t.system.platform)).forDevice(user.id, oldDevice)).secret).toBe(legacy);
        // The sealed value was not re-sealed.
        const row = await t.system.db.selectFrom('verify_users').select('totp_secret').where('id', '=', user.id).executeTakeFirstOrThrow();
        expect(row.totp_secret).toBe(sealed);
        expect(await register(t, apiKey, 'erin@example.com', '201-555-0177')).toBe(user.id);
        expect(await register(t, apiKey, 'frank@example.com', '201-555-0177')).not.toBe(user.id);
      } finally {
        await t.stop();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
});
