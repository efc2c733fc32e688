/**
 * Threat: the service crashes between recording an answer and telling the app. The callback is
 * written to the outbox in the answer's own transaction, so a restarted process still sends it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { activateDevice, DeviceClient } from '../../src/authenticator/client.js';
import { verifyCallbackSignature } from '../../src/platform/authy-signature.js';
import { systemClock } from '../../src/platform/clock.js';
import { SecretBox } from '../../src/platform/crypto.js';
import type { SystemDatabase } from '../../src/migrations.js';
import { openDatabase, withTables, type Db } from '../../src/platform/db.js';
import { AppStore } from '../../src/verify/core/apps.js';
import { LEASE_MS } from '../../src/verify/onetouch/callbacks.js';
import { storeAppSigningKey } from '../../src/verify/onetouch/signing-keys.js';
import { killChild as kill, serveChild as serve, type ChildServer as Server } from '../helpers/child-server.js';
import { coreDb, oneTouchDb } from '../helpers/contexts.js';
import { DATABASE_KINDS, pgAvailable, pgUrl } from '../helpers/databases.js';
import { activationLink, CallbackReceiver, createApproval, registerUser } from './helpers.js';

for (const kind of DATABASE_KINDS) {
  const run = kind === 'postgres' && !pgAvailable() ? describe.skip : describe;
  run(`crash after an approval (${kind})`, () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'twofold-crash-'));
    const encryptionKey = randomBytes(32).toString('base64');
    const dbName = `tf_crash_${randomBytes(5).toString('hex')}`;
    const servers: Server[] = [];
    const rx = new CallbackReceiver();
    let db: Db<SystemDatabase> | undefined;

    afterAll(async () => {
      for (const s of servers) await kill(s);
      await rx.stop();
      await db?.close();
      rmSync(dataDir, { recursive: true, force: true });
      if (kind === 'postgres') {
        const c = new pg.Client({ connectionString: pgUrl() });
        await c.connect();
        await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
        await c.end();
      }
    });

    it('when the server is SIGKILLed right after an approval commits then the restarted server delivers the callback', async () => {
      const env: Record<string, string> = { DATA_DIR: dataDir, ENCRYPTION_KEY: encryptionKey };
      if (kind === 'postgres') {
        const c = new pg.Client({ connectionString: pgUrl() });
        await c.connect();
        await c.query(`CREATE DATABASE ${dbName}`);
        await c.end();
        const u = new URL(pgUrl());
        u.pathname = `/${dbName}`;
        env['DATABASE_URL'] = u.toString();
      }
      // The app's endpoint is down at first: reserve a port, then stop listening on it.
      await rx.start();
      const port = rx.port;
      await rx.stop();

      const first = await serve(env);
      servers.push(first);
      db = withTables<SystemDatabase>(openDatabase(kind === 'postgres' ? { databaseUrl: env['DATABASE_URL'] } : { sqliteFile: join(dataDir, 'twofold.sqlite') }));
      const { app, apiKey } = await new AppStore(coreDb(db.db), systemClock).create({ name: 'Crash App', callbackUrl: `http://127.0.0.1:${port}/authy/callback` });
      await storeAppSigningKey({ db: oneTouchDb(db), secretBox: new SecretBox(Buffer.from(encryptionKey, 'base64')), clock: systemClock }, app.id, apiKey);

      const userId = await registerUser(first.url, apiKey);
      const device = new DeviceClient(await activateDevice(await activationLink(first.url, apiKey, userId), { name: 'crash phone' }));
      const c = await createApproval(first.url, apiKey, userId, { message: 'Survive a crash' });
      const uuid = c.body['approval_request'].uuid as string;
      const shown = (await device.pending())[0]!;
      expect(await device.respond(uuid, 'approve', null, shown)).toBe('approved');
      await kill(first);

      const pending = await db.db.selectFrom('callback_outbox').selectAll().where('approval_uuid', '=', uuid).execute();
      expect(pending).toHaveLength(1);
      expect(pending[0]!.delivered_at).toBeNull();

      await rx.start(port);
      const second = await serve(env);
      servers.push(second);
      // A send cut off by the kill holds its lease (LEASE_MS) before another process may retry.
      const [cb] = await rx.waitFor(1, LEASE_MS + 10_000);
      expect(cb!.body['uuid']).toBe(uuid);
      expect(cb!.body['status']).toBe('approved');
      expect(
        verifyCallbackSignature({ apiKey, nonce: String(cb!.headers['x-authy-signature-nonce']), method: 'POST', url: rx.url, body: cb!.body, signature: String(cb!.headers['x-authy-signature']) }),
      ).toBe(true);
      await kill(second);
      expect(rx.received).toHaveLength(1);
    }, 90_000);
  });
}
