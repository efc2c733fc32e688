// Threat: an attacker with a copy of the database (a leaked backup, an injection elsewhere) reads
// TOTP seeds, codes, passwords, API keys or session tokens and uses them as they are.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
});
