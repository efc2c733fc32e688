import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, TestDevice, eventually, newUser, signUp } from './app/helpers.js';
import { forEachDatabase, freshSchema } from './helpers/databases.js';
import { startTestSystem, type TestSystem } from './helpers/system.js';

// Production topology (README "Production"): `serve --only verify` and `serve --only app` as two
// processes sharing one database, the app reaching the service over HTTP with its API key.
forEachDatabase((kind) => {
  describe(`split deployment on ${kind}`, () => {
    let verify: TestSystem;
    let app: TestSystem;
    const dataDir = mkdtempSync(join(tmpdir(), 'twofold-split-'));
    const pgSchema = kind === 'postgres' ? freshSchema() : undefined;

    beforeAll(async () => {
      // The service must know the app's address before the app runs: hold that port until the
      // app is ready to listen on it, so no other process takes it meanwhile.
      const holder = createServer();
      await new Promise<void>((ok) => holder.listen(0, '127.0.0.1', ok));
      const pa = (holder.address() as AddressInfo).port;
      const shared = { db: kind, dataDir, ...(pgSchema ? { pgSchema } : {}) } as const;
      verify = await startTestSystem({ ...shared, only: 'verify', env: { APP_URL: `http://127.0.0.1:${pa}` } });
      app = await startTestSystem({
        ...shared,
        only: 'app',
        port: pa,
        env: { VERIFY_URL: verify.url, VERIFY_API_KEY: verify.apiKey },
        beforeListen: () => new Promise<void>((ok) => holder.close(() => ok())),
      });
    });
    afterAll(async () => {
      await app?.stop();
      await verify?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('when each process serves only its part then the other part’s routes are absent', async () => {
      expect((await fetch(`${verify.url}/session`, { method: 'POST' })).status).toBe(404);
      expect((await fetch(`${app.url}/protected/json/app/details`)).status).toBe(404);
      expect((await fetch(`${verify.url}/authenticator/`)).status).toBe(200);
      expect((await fetch(`${verify.url}/`, { headers: { accept: 'text/html' } })).status).toBe(404);
    });

    it('when a user signs up, adds the authenticator and approves a login then the callback crosses to the app process', async () => {
      const user = newUser();
      const b = new Browser(app.url);
      await signUp(b, user, { smsOutbox: verify.url });
      const act = await b.post('/user/authenticators', { name: 'Phone' });
      expect(act.status).toBe(201);
      const link = (act.body.activation as { link: string }).link;
      // The activation link points at the service, which serves the PWA and the device API.
      expect(link.startsWith(`${verify.url}/authenticator/`)).toBe(true);
      const device = await TestDevice.activate(verify.url, link);

      await b.del('/session');
      const login = await b.post('/session', { email: user.email, password: user.password });
      expect(login.body.state).toBe('approve');
      const [req] = await eventually(async () => {
        const p = await device.pending();
        return p.length ? p : undefined;
      });
      expect((await device.answer(req!, 'approve', String(login.body.number))).status).toBe(200);
      // Only the signed callback from the service process can tell the app process.
      await eventually(async () => (await b.get('/authy/status')).body.status === 'approved', 15_000);
      expect((await b.post('/session/complete')).status).toBe(200);
      expect((await b.get('/user')).status).toBe(200);
    });
  });
});
