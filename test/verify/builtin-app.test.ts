import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { forEachDatabase, freshSchema } from '../helpers/databases.js';
import { startTestSystem } from '../helpers/system.js';
import { authy } from './helpers.js';

forEachDatabase((kind) => {
  describe(`the built-in app on ${kind}`, () => {
    it('when the service restarts with another key, name and address then the row follows and the old key stops working', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'twofold-builtin-'));
      const pgSchema = kind === 'postgres' ? freshSchema() : undefined;
      const same = { db: kind, dataDir, ...(pgSchema ? { pgSchema } : {}) } as const;
      try {
        const first = await startTestSystem({ ...same, env: { VERIFY_API_KEY: 'first-key-0123456789abcdef' } });
        expect((await authy(first.url, 'first-key-0123456789abcdef', 'GET', '/protected/json/app/details')).status).toBe(200);
        await first.stop();

        const second = await startTestSystem({ ...same, env: { VERIFY_API_KEY: 'second-key-0123456789abcdef', APP_NAME: 'Renamed' } });
        try {
          expect((await authy(second.url, 'first-key-0123456789abcdef', 'GET', '/protected/json/app/details')).status).toBe(401);
          const d = await authy(second.url, 'second-key-0123456789abcdef', 'GET', '/protected/json/app/details');
          expect(d.status).toBe(200);
          expect((d.body['app'] as { name: string }).name).toBe('Renamed');
          const rows = await second.system.db.selectFrom('apps').selectAll().where('builtin', '=', 1).execute();
          expect(rows).toHaveLength(1);
          expect(rows[0]!.callback_url).toBe(`${second.url}/authy/callback`);
        } finally {
          await second.stop();
        }
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
});
