// Threat: an attacker with a copy of the database (a leaked backup, an injection elsewhere) reads
// TOTP seeds, codes, passwords, API keys, session tokens, or the tokens of mailed links and
// remembered browsers, and uses them as they are.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitMail, Browser, e164Of, latestSmsCode, newUser, signUp, signupTokenIn } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { findSecrets, runWholeFlow, type SeenSecrets } from './whole-flow.js';

/** Every row of every table, as text. */
async function dumpEveryTable(t: TestSystem): Promise<{ text: string; tables: string[] }> {
  const { db, kind } = t.system.platform.db;
  const names =
    kind === 'sqlite'
      ? (await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(db)).rows.map((r) => r.name)
      : (await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = current_schema()`.execute(db)).rows.map((r) => r.name);
  let text = '';
  for (const name of names) {
    const rows = (await sql<Record<string, unknown>>`select * from ${sql.table(name)}`.execute(db)).rows;
    text += `\n# ${name}\n${JSON.stringify(rows, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`;
  }
  return { text, tables: names };
}

forEachDatabase((kind) => {
  describe(`secrets at rest on ${kind}`, () => {
    let t: TestSystem;
    let seen: SeenSecrets;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
      seen = await runWholeFlow(t);
    }, 60_000);
    afterAll(() => t.stop());

    it('when every table is dumped after a whole run then no seed, code, password, API key or token is in clear', async () => {
      const { text, tables } = await dumpEveryTable(t);
      // The dump really holds the product's data: the tables the run wrote to are there.
      expect(tables).toEqual(expect.arrayContaining(['verify_users', 'audit_events']));
      expect(text.length).toBeGreaterThan(2000);
      expect(seen.codes.length).toBeGreaterThanOrEqual(3);
      expect(findSecrets(text, seen)).toEqual([]);
    });

    it.runIf(kind === 'sqlite')('when the raw SQLite files (database and WAL) are read then no secret is in them either', () => {
      const files = readdirSync(t.dataDir).filter((f) => f.startsWith('twofold.sqlite'));
      expect(files).toContain('twofold.sqlite');
      const raw = files.map((f) => readFileSync(join(t.dataDir, f)).toString('latin1')).join('\n');
      expect(findSecrets(raw, seen)).toEqual([]);
    });

    it('when the finder is given a secret that is in the dump then it reports it (the check can fail)', async () => {
      const { text } = await dumpEveryTable(t);
      const email = /"email":"([^"]+)"/.exec(text)?.[1];
      expect(email).toBeTruthy();
      expect(findSecrets(text, { passwords: [email!], tokens: [], seeds: [], codes: [] })).toHaveLength(1);
    });
  });

  describe(`account tokens at rest on ${kind}`, () => {
    let t: TestSystem;
    /** Every raw token a test below was given, for the raw SQLite files. */
    const given: string[] = [];
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(() => t.stop());

    const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');
    const cookieToken = (cookie: string | undefined) => /=([A-Za-z0-9_-]{43})$/.exec(cookie ?? '')?.[1] ?? '';
    /** No table holds any of `tokens` as given; each one's SHA-256 (hex) is there. */
    async function expectOnlyHashed(tokens: string[]) {
      const { text } = await dumpEveryTable(t);
      for (const token of tokens) {
        expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
        expect(text).not.toContain(token);
        expect(text).toContain(sha256(token));
        given.push(token);
      }
    }

    it("when a signup waits for its email link then neither the link's token nor the signup cookie's is stored, only their SHA-256", async () => {
      const u = newUser();
      const b = new Browser(t.url);
      expect((await b.post('/user', u)).status).toBe(202);
      expect((await b.post('/user/verify-phone', { code: (await latestSmsCode(t.url, e164Of(u))).code })).status).toBe(202);
      const link = signupTokenIn(await awaitMail(t.url, u.email, 'Confirm your email address'));
      await expectOnlyHashed([link, cookieToken(b.signupCookie)]);
    });

    it("when a browser is remembered then its cookie's token is not stored, only its SHA-256", async () => {
      const u = newUser();
      await signUp(new Browser(t.url), u);
      const b = new Browser(t.url);
      expect((await b.post('/session', { email: u.email, password: u.password })).body.state).toBe('code');
      const { code } = await latestSmsCode(t.url, e164Of(u));
      expect((await b.post('/session/verify', { code, remember: true })).status).toBe(200);
      await expectOnlyHashed([cookieToken(b.rememberCookie)]);
    });

    it("when a change of email waits for its link then the link's token is not stored, only its SHA-256", async () => {
      const u = newUser();
      const b = new Browser(t.url);
      await signUp(b, u);
      const fresh = newUser().email;
      expect((await b.post('/user/email', { email: fresh })).status).toBe(202);
      const m = await awaitMail(t.url, fresh, 'Confirm your new email address');
      const link = /\/account\/email#token=([A-Za-z0-9_-]{43})/.exec(m.text)?.[1] ?? '';
      await expectOnlyHashed([link]);
    });

    it.runIf(kind === 'sqlite')('when the raw SQLite files (database and WAL) are read then none of those tokens is in them either', () => {
      expect(given).toHaveLength(4);
      const raw = readdirSync(t.dataDir)
        .filter((f) => f.startsWith('twofold.sqlite'))
        .map((f) => readFileSync(join(t.dataDir, f)).toString('latin1'))
        .join('\n');
      // The files hold what was stored: the hashes are there, the tokens are not.
      for (const token of given) expect(raw).toContain(sha256(token));
      for (const token of given) expect(raw).not.toContain(token);
    });
  });
});
