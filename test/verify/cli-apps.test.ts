import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../src/cli.js';
import { ensurePgSchema } from '../../src/platform/db.js';
import { forEachDatabase, freshSchema, pgUrl } from '../helpers/databases.js';
import { startTestSystem } from '../helpers/system.js';
import { authy, registerUser } from './helpers.js';
import { loadAppSigningKey } from '../../src/verify/onetouch/signing-keys.js';
import { oneTouchPlatform } from '../helpers/contexts.js';

function io(env: Record<string, string>): CliIo & { outLines: string[]; errLines: string[] } {
  const outLines: string[] = [];
  const errLines: string[] = [];
  return { out: (l) => outLines.push(l), err: (l) => errLines.push(l), env, outLines, errLines };
}

forEachDatabase((kind) => {
  describe(`twofold apps on ${kind}`, () => {
    let dataDir = '';
    let env: Record<string, string> = {};
    let schema: string | undefined;
    beforeAll(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'twofold-cli-'));
      env = { DATA_DIR: dataDir, NODE_ENV: 'test', LOG_LEVEL: 'silent' };
      if (kind === 'postgres') {
        schema = freshSchema();
        await ensurePgSchema(pgUrl(), schema);
        env['DATABASE_URL'] = `${pgUrl()}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
      }
    });
    afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

    it('when an app is created then its key is printed once, works against the API, and list never shows it', async () => {
      const c = io(env);
      expect(await main(['apps', 'create', '--name', 'Shop', '--callback-url', 'https://shop.example/authy/callback'], c)).toBe(0);
      const key = c.outLines.find((l) => l.startsWith('api_key: '))!.slice('api_key: '.length);
      expect(key).toMatch(/^[A-Za-z0-9_-]{32}$/); // 192 bits, base64url
      const l = io(env);
      expect(await main(['apps', 'list'], l)).toBe(0);
      expect(l.outLines.join('\n')).toContain('Shop');
      expect(l.outLines.join('\n')).not.toContain(key);

      const t = await startTestSystem({ db: kind, dataDir, ...(schema ? { pgSchema: schema } : {}) });
      try {
        const d = await authy(t.url, key, 'GET', '/protected/json/app/details');
        expect(d.status).toBe(200);
        expect((d.body['app'] as { name: string }).name).toBe('Shop');
        // Its OneTouch callbacks can be signed: the key is kept sealed for that, never in clear.
        const appId = Number((d.body['app'] as { app_id: number | string }).app_id);
        expect(await loadAppSigningKey(oneTouchPlatform(t.system.platform), appId)).toBe(key);
        const sealed = await t.system.db.selectFrom('app_signing_keys').select('sealed_key').where('app_id', '=', appId).executeTakeFirstOrThrow();
        expect(sealed.sealed_key).not.toContain(key);
        // Unlock: a locked user is released by the operator command.
        const id = await registerUser(t.url, key);
        await t.system.db.updateTable('verify_users').set({ failed_verifications: 100 }).where('id', '=', id).execute();
        const u = io(env);
        expect(await main(['apps', 'unlock', '--user', String(id)], u)).toBe(0);
        const row = await t.system.db.selectFrom('verify_users').select('failed_verifications').where('id', '=', id).executeTakeFirstOrThrow();
        expect(row.failed_verifications).toBe(0);
      } finally {
        await t.stop();
      }
    });

    it.each([
      [['apps', 'create']],
      [['apps', 'create', '--name', '']],
      [['apps', 'create', '--name', 'x'.repeat(61)]],
      [['apps', 'create', '--name', 'Shop', '--callback-url', 'not a url']],
      [['apps', 'create', '--name', 'Shop', '--callback-url', 'ftp://x.example/']],
      [['apps', 'create', '--name', 'Shop', '--bogus']],
      [['apps', 'unlock', '--user', 'abc']],
      [['apps', 'frobnicate']],
    ])('when the arguments are %j then exit 2 with a message', async (argv) => {
      const c = io(env);
      expect(await main(argv, c)).toBe(2);
      expect(c.errLines.join('\n')).not.toBe('');
    });
  });
});
