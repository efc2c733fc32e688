// Threat: phone numbers are recycled. Vera's old number goes to Nina, who signs up with it in good
// faith (she holds the phone now, so she passes the phone step). Before each account owned its
// second factor, Nina's account was Vera's service user: her page showed Vera's authenticators
// and Vera's pushes and lockouts were hers. Accounts that already shared a service user when this
// was fixed are split by a migration: the oldest keeps it, the others prove the phone at their
// next login and start with no factors.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/app/passwords.js';
import { Browser, TestDevice, e164Of, latestSmsCode, newUser, signUp } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { databaseBefore } from '../helpers/migrated-before.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { otherCode, pendingFor, totpAt } from './helpers.js';

forEachDatabase((kind) => {
  describe(`recycled phone number on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(async () => {
      await t?.stop();
    });

    it('when the number\'s new holder signs up then she gets none of the previous owner\'s factors, pushes or lockout', async () => {
      const vera = newUser({ fullName: 'Vera' });
      const vb = new Browser(t.url);
      await signUp(vb, vera);
      const act = await vb.post('/user/authenticators', {});
      const device = await TestDevice.activate(t.url, (act.body.activation as { link: string }).link);
      const app = await vb.post('/user/totp-app', {});
      const veraAppSecret = new URL(String(app.body.uri)).searchParams.get('secret')!;
      expect((await vb.post('/user/totp-app/confirm', { code: totpAt(veraAppSecret, Date.now()) })).status).toBe(200);

      // Later, the carrier gives the number to Nina.
      const nina = newUser({ fullName: 'Nina', phone: vera.phone });
      const nb = new Browser(t.url);
      await signUp(nb, nina);
      const page = await nb.get('/user');
      expect(page.body.devices).toEqual([]);
      expect(page.body.totp_apps).toEqual([]);
      expect((page.body.user as { totpAppConfirmed: boolean }).totpAppConfirmed).toBe(false);
      await nb.del('/session');

      // Nina's login texts her a code; it does not push to Vera's authenticator.
      const login = new Browser(t.url);
      const r = await login.post('/session', { email: nina.email, password: nina.password });
      expect(r.body).toMatchObject({ state: 'code', via: 'sms' });
      expect(await device.pending()).toEqual([]);
      // Vera's codes are no use on Nina's login, and Nina's wrong codes do not lock Vera.
      expect((await login.post('/session/verify', { code: totpAt(device.totpSecret, Date.now()) })).status).toBe(400);
      expect((await login.post('/session/verify', { code: totpAt(veraAppSecret, Date.now()) })).status).toBe(400);
      for (let i = 0; i < 3; i++) await login.post('/session/verify', { code: otherCode(totpAt(device.totpSecret, Date.now())) });

      const vl = new Browser(t.url);
      const vr = await vl.post('/session', { email: vera.email, password: vera.password });
      expect(vr.body.state).toBe('approve');
      const [req] = await pendingFor(device, 1);
      expect((await device.answer(req!, 'approve', String(vr.body.number))).status).toBe(200);
      await new Promise((ok) => setTimeout(ok, 100));
      expect((await vl.post('/session/complete', {})).body.state).toBe('logged_in');
    });
  });

  describe(`accounts that already shared a service user, on ${kind}`, () => {
    it('when the migration runs then every factor of the shared service user ends, the oldest keeps the id, the others lose it and their sessions, and it logs how many it split; a split account proves its phone at the next login', async () => {
      const { db, dataDir, pgSchema } = await databaseBefore(kind, '009');
      const oldest = newUser({ fullName: 'Oldest' });
      const younger = newUser({ fullName: 'Younger', phone: oldest.phone });
      const other = newUser({ fullName: 'Other' });
      const insert = async (u: ReturnType<typeof newUser>, authyId: number, createdAt: number) =>
        (
          await db.db
            .insertInto('app_users')
            .values({ email: u.email, full_name: u.fullName, password_hash: await hashPassword(u.password), country_code: '1', region: 'US', phone: u.phone, authy_id: authyId, totp_app_confirmed_at: null, created_at: createdAt })
            .returning('id')
            .executeTakeFirstOrThrow()
        ).id;
      // The shared service user, with factors someone enrolled through one of the two accounts.
      // An app of that time: its Account SID column came later (migration 018 gives it one).
      const before = { name: 'Before', api_key_hash: 'not-a-key', callback_url: null, builtin: 0, created_at: 1 } as { name: string; api_key_hash: string; callback_url: null; builtin: number; created_at: number; account_sid: string };
      const oldApp = await db.db.insertInto('apps').values(before).returning('id').executeTakeFirstOrThrow();
      await db.db
        .insertInto('verify_users')
        .values({ id: 900_001, app_id: oldApp.id, email: oldest.email, country_code: '1', region: 'US', phone_e164: `+1${oldest.phone}`, totp_secret: 'sealed-legacy', locked_until: null, created_at: 1 })
        .execute();
      await db.db.insertInto('devices').values({ id: '00000000-0000-4000-8000-000000000901', user_id: 900_001, name: 'whose phone?', public_key: '{}', created_at: 1, last_seen_at: null, revoked_at: null }).execute();
      await db.db
        .insertInto('totp_secrets')
        .values({ id: 'old-app-secret', user_id: 900_001, kind: 'app', device_id: null, label: 'whose app?', sealed: 'sealed', state: 'active', created_at: 1, confirmed_at: 1, last_used_at: null })
        .execute();
      const oldestId = await insert(oldest, 900_001, 1000);
      const youngerId = await insert(younger, 900_001, 2000);
      const otherId = await insert(other, 800_002, 1500);
      const now = Date.now();
      for (const userId of [oldestId, youngerId]) {
        await db.db
          .insertInto('app_sessions')
          .values({ token_hash: `h${userId}`.padEnd(64, '0'), user_id: userId, state: 'full', login_attempt_id: null, created_at: now, last_seen_at: now, expires_at: now + 3_600_000 } as never)
          .execute();
      }
      await db.close();

      const t = await startTestSystem({ db: kind, dataDir, ...(pgSchema ? { pgSchema } : {}) });
      try {
        const rows = await t.system.db.selectFrom('app_users').select(['id', 'authy_id']).orderBy('id').execute();
        const byId = new Map(rows.map((r) => [r.id, r.authy_id]));
        expect(byId.get(oldestId)).toBe(900_001);
        expect(byId.get(youngerId)).toBeNull();
        expect(byId.get(otherId)).toBe(800_002);
        const sessions = await t.system.db.selectFrom('app_sessions').select('user_id').execute();
        expect(sessions.map((s) => s.user_id)).toEqual([oldestId]);
        expect(t.logs.some((l) => l.includes('"split_accounts":1') && l.includes('"factors_reset_accounts":2'))).toBe(true);
        // Nobody keeps a factor that another person may have enrolled.
        const pdb = t.system.db;
        expect((await pdb.selectFrom('devices').select('revoked_at').where('user_id', '=', 900_001).executeTakeFirstOrThrow()).revoked_at).not.toBeNull();
        expect(await pdb.selectFrom('totp_secrets').select('id').where('user_id', '=', 900_001).execute()).toEqual([]);
        expect((await pdb.selectFrom('verify_users').select('totp_secret').where('id', '=', 900_001).executeTakeFirstOrThrow()).totp_secret).toBeNull();
        for (const id of [oldestId, youngerId]) {
          const events = await pdb.selectFrom('audit_events').select(['type', 'detail']).where('user_ref', '=', `app-user:${id}`).execute();
          expect(events).toContainEqual({ type: 'device_revoked', detail: JSON.stringify({ reason: 'shared_phone_split' }) });
        }
        // An account that shared nothing keeps everything.
        expect(await pdb.selectFrom('audit_events').select('id').where('user_ref', '=', `app-user:${otherId}`).execute()).toEqual([]);

        // The split account's next login: a fresh service user with no factors, so a code by SMS.
        const b = new Browser(t.url);
        const r = await b.post('/session', { email: younger.email, password: younger.password });
        expect(r.status).toBe(200);
        expect(r.body).toMatchObject({ state: 'code', via: 'sms' });
        const bound = await t.system.db.selectFrom('app_users').select('authy_id').where('id', '=', youngerId).executeTakeFirstOrThrow();
        expect(bound.authy_id).not.toBeNull();
        expect(bound.authy_id).not.toBe(900_001);
        const { code } = await latestSmsCode(t.url, e164Of(younger));
        expect((await b.post('/session/verify', { code })).body.state).toBe('logged_in');
        const page = await b.get('/user');
        expect(page.body.devices).toEqual([]);
        // The binding is unique: nothing can give the oldest account's id to another account.
        await expect(t.system.db.updateTable('app_users').set({ authy_id: 900_001 }).where('id', '=', otherId).execute()).rejects.toThrow();
      } finally {
        await t.stop();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
});
