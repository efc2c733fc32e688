import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express, { Router } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/platform/config.js';
import type { Platform } from '../../src/platform/context.js';
import { createLogger } from '../../src/platform/logger.js';
import { openPlatform } from '../../src/system.js';
import { createCore } from '../../src/verify/core/index.js';
import type { ActiveDevice } from '../../src/verify/ports.js';
import { forEachDatabase, freshSchema, pgUrl } from '../helpers/databases.js';
import { authy, registerUser } from './helpers.js';
import { systemDb } from '../helpers/contexts.js';

// The core alone, with the DeviceDirectory port (OneTouch's side) given as a table of devices per
// user, to pin down what the core does with what the port answers.
forEachDatabase((kind) => {
  describe(`the core with authenticator devices on ${kind}`, () => {
    const devices = new Map<number, ActiveDevice[]>();
    let url = '';
    let apiKey = '';
    let p: Platform;
    let server: Server;
    let dataDir = '';
    beforeAll(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'twofold-core-'));
      const config = loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...(kind === 'postgres' ? { DATABASE_URL: pgUrl() } : {}) });
      p = await openPlatform({ config, logger: createLogger('silent'), ...(kind === 'postgres' ? { pgSchema: freshSchema() } : {}) });
      const core = createCore(p, { activeDevices: async (id) => devices.get(id) ?? [] });
      const app = express();
      app.set('query parser', 'extended');
      const router = Router();
      core.mount(router);
      app.use(router);
      server = await new Promise<Server>((r) => {
        const s = app.listen(0, '127.0.0.1', () => r(s));
      });
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      await core.start(url);
      apiKey = config.appApiKey;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await p.limits.close();
      await p.bus.close();
      await p.db.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('when the user has an authenticator then an SMS is ignored unless forced', async () => {
      const id = await registerUser(url, apiKey, '201-555-0111');
      devices.set(id, [{ id: 'd1', name: 'Pixel 9', createdAt: 1 }]);
      const r = await authy(url, apiKey, 'GET', `/protected/json/sms/${id}`);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ ignored: true, device: 'Pixel 9', cellphone: '+1-XXX-XXX-XX11', success: true });
      expect(String(r.body['message'])).toMatch(/not needed/);
      const sms = await fetch(`${url}/dev/sms.json?to=%2B12015550111`).then((x) => x.json() as Promise<{ messages: unknown[] }>);
      expect(sms.messages).toHaveLength(0);
      const forced = await authy(url, apiKey, 'GET', `/protected/json/sms/${id}`, { force: 'true' });
      expect(forced.body).toEqual({ message: 'SMS token was sent', cellphone: '+1-XXX-XXX-XX11', success: true });
    });

    it('when the user has authenticators then the status lists them and says registered', async () => {
      const id = await registerUser(url, apiKey, '201-555-0112');
      devices.set(id, [
        { id: 'd1', name: 'Pixel 9', createdAt: 1 },
        { id: 'd2', name: 'CLI', createdAt: 2 },
      ]);
      const r = await authy(url, apiKey, 'GET', `/protected/json/users/${id}/status`);
      expect(r.body['status']).toMatchObject({ registered: true, devices: ['Pixel 9', 'CLI'] });
    });

    it('when a device enrolled before per-device secrets is described twice in parallel then it gets one secret of its own', async () => {
      const id = await registerUser(url, apiKey, '201-555-0113', 'seed@example.com');
      const core = createCore(p, { activeDevices: async () => [] });
      const deviceId = randomUUID();
      await systemDb(p.db)
        .insertInto('devices')
        .values({ id: deviceId, user_id: id, name: 'old', public_key: '{}', created_at: 1, last_seen_at: null, revoked_at: null })
        .execute();
      const [a, b] = await Promise.all([core.totp.forDevice(id, deviceId), core.totp.forDevice(id, deviceId)]);
      expect(a.secret).toBe(b.secret);
      expect(a).toMatchObject({ digits: 6, period: 30, algorithm: 'SHA1', issuer: 'Twofold Demo', label: 'seed@example.com' });
      expect(a.uri).toMatch(/^otpauth:\/\/totp\/Twofold%20Demo:seed%40example\.com\?/);
      const rows = await systemDb(p.db).selectFrom('totp_secrets').select(['kind', 'state', 'device_id']).where('user_id', '=', id).execute();
      expect(rows).toEqual([{ kind: 'device', state: 'active', device_id: deviceId }]);
      await expect(core.totp.forDevice(987654321, deviceId)).rejects.toThrow();
    });
  });
});
