// Threat: a stolen database (file, dump or backup) yields every user's TOTP seed; or an attacker
// with write access to the database moves a known seed onto a victim's row. Seeds are sealed with
// AES-256-GCM bound to their row, so neither the dump nor the swap helps.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base32Decode } from '../../src/verify/core/totp.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem } from '../helpers/system.js';
import { authy, oathtool, registerUser, secretFromUri } from './helpers.js';

forEachDatabase((kind) => {
  describe(`TOTP secrets at rest on ${kind}`, () => {
    let t: Awaited<ReturnType<typeof startTestSystem>>;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(() => t.stop());

    async function enrol(): Promise<{ id: number; base32: string }> {
      const id = await registerUser(t.url, t.apiKey);
      const s = await authy(t.url, t.apiKey, 'POST', `/protected/json/users/${id}/secret`);
      return { id, base32: secretFromUri(s.body['uri'] as string) };
    }

    async function everyRowAsText(): Promise<string> {
      const db = t.system.db;
      const tables = (await db.introspection.getTables()).filter((x) => kind === 'sqlite' || x.schema === t.pgSchema);
      expect(tables.some((x) => x.name === 'verify_users')).toBe(true);
      let out = '';
      for (const table of tables) {
        const rows = await db.selectFrom(table.name as 'verify_users').selectAll().execute();
        out += JSON.stringify(rows);
      }
      return out;
    }

    it('when the database is read then no TOTP secret appears in base32, hex or raw bytes', async () => {
      const users = [await enrol(), await enrol()];
      const text = await everyRowAsText();
      const files =
        kind === 'sqlite'
          ? readdirSync(t.dataDir)
              .filter((f) => f.startsWith('twofold.sqlite'))
              .map((f) => readFileSync(join(t.dataDir, f)))
          : [];
      if (kind === 'sqlite') expect(files.length).toBeGreaterThan(0);
      for (const u of users) {
        const raw = Buffer.from(base32Decode(u.base32));
        for (const needle of [u.base32, u.base32.toLowerCase(), raw.toString('hex'), raw.toString('hex').toUpperCase(), raw.toString('base64')]) {
          expect(text.includes(needle)).toBe(false);
          for (const f of files) expect(f.includes(needle)).toBe(false);
        }
        for (const f of files) expect(f.includes(raw)).toBe(false);
      }
      // SMS codes live in the outbox file (the simulated phone) and as keyed hashes, never in clear.
      const id = await registerUser(t.url, t.apiKey, '201-555-0169');
      await authy(t.url, t.apiKey, 'GET', `/protected/json/sms/${id}`, { force: 'true' });
      const sms = await fetch(`${t.url}/dev/sms.json?to=%2B12015550169`).then((r) => r.json() as Promise<{ messages: { body: string }[] }>);
      const smsCode = sms.messages[0]!.body.match(/\d{6}/)![0];
      const after = await everyRowAsText();
      expect(after.includes(`"${smsCode}"`)).toBe(false);
      expect(after).not.toMatch(new RegExp(`[^\\d]${smsCode}[^\\d]`));
      // The rows do hold sealed values (so the search above looked at the right column).
      expect(text).toMatch(/"sealed":"v1\./);
    });

    it("when two users' sealed secrets are swapped between rows then verification is refused (no 5xx) until they are put back", async () => {
      const a = await enrol();
      const b = await enrol();
      const db = t.system.db;
      const read = async (userId: number) => db.selectFrom('totp_secrets').select(['id', 'sealed']).where('user_id', '=', userId).executeTakeFirstOrThrow();
      const ra = await read(a.id);
      const rb = await read(b.id);
      const put = (id: string, sealed: string) => db.updateTable('totp_secrets').set({ sealed }).where('id', '=', id).execute();
      await put(ra.id, rb.sealed);
      await put(rb.id, ra.sealed);
      for (const code of [oathtool(a.base32), oathtool(b.base32)]) {
        const r = await authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${code}/${a.id}`);
        expect(r.status).toBe(401);
        expect(r.body['error_code']).toBe('60020');
      }
      expect(t.logs.some((l) => l.includes('TOTP secret does not decrypt'))).toBe(true);
      await put(ra.id, ra.sealed);
      expect((await authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${oathtool(a.base32)}/${a.id}`)).status).toBe(200);
    });
  });
});
