/**
 * Scale-out: 3 web-app and 2 verification-service instances on one PostgreSQL database (with and
 * without Redis) behave as one system. Each instance is its own process (`twofold serve --only`),
 * reached directly or through a round-robin balancer, and reaches PostgreSQL through a link the
 * test can cut.
 */
import { createServer, type Server } from 'node:http';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyCallbackSignature } from '../../src/platform/authy-signature.js';
import { addTotpApp, Browser, newUser, TestDevice, eventually, type PendingApproval } from '../app/helpers.js';
import { RUN_SOURCES } from '../helpers/child-server.js';
import { pgAvailable } from '../helpers/databases.js';
import { openSse, statusEvent } from '../helpers/sse.js';
import { otherCode, totpAt } from '../security/helpers.js';
import { authy, nextUsPhone } from '../verify/helpers.js';
import { Cluster, readiness, type Instance } from './cluster.js';

const ROOT = resolve(import.meta.dirname, '../..');

const LIMITS = {
  // Generous where a test needs volume; the account limits stay at their defaults.
  SMS_PER_PHONE_LIMIT: '1000',
  SMS_PER_IP_LIMIT: '100000',
  PUSH_PER_USER_LIMIT: '100000',
  LOGIN_PER_IP_LIMIT: '100000',
  CODE_PER_IP_LIMIT: '100000',
  LINK_PER_IP_LIMIT: '100000',
};

function percentile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

/** A callback receiver: counts deliveries per (uuid, status) and checks every signature. */
class Receiver {
  readonly deliveries: { uuid: string; status: string; validSignature: boolean }[] = [];
  private server: Server | undefined;
  url = '';
  apiKey = '';

  async listen(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { uuid: string; status: string };
        const validSignature = verifyCallbackSignature({
          apiKey: this.apiKey,
          nonce: String(req.headers['x-authy-signature-nonce'] ?? ''),
          method: 'POST',
          url: `${this.url}/cb`,
          body,
          signature: String(req.headers['x-authy-signature'] ?? ''),
        });
        this.deliveries.push({ uuid: body.uuid, status: body.status, validSignature });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  distinct(uuids: Set<string>): Map<string, number> {
    const counts = new Map<string, number>();
    for (const d of this.deliveries) if (uuids.has(d.uuid)) counts.set(d.uuid, (counts.get(d.uuid) ?? 0) + 1);
    return counts;
  }

  close(): Promise<void> {
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/** `twofold apps create` against the cluster's database: an API app whose callbacks go to `url`. */
function createApp(c: Cluster, callbackUrl: string): string {
  const out = execFileSync(process.execPath, ['bin/twofold.js', 'apps', 'create', '--name', 'Scale test', '--callback-url', callbackUrl], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', NODE_ENV: 'test', DATABASE_URL: c.dbUrl, ENCRYPTION_KEY: c.secrets.ENCRYPTION_KEY!, LOG_LEVEL: 'silent', ...RUN_SOURCES },
    encoding: 'utf8',
  });
  return /api_key: (\S+)/.exec(out)![1]!;
}

/** A user of the API app with an activated device (activation through `via`). */
async function apiUserWithDevice(apiKey: string, lb: string, via: string): Promise<{ authyId: number; device: TestDevice }> {
  const reg = await authy(lb, apiKey, 'POST', '/protected/json/users/new', { 'user[email]': `s${Math.random().toString(36).slice(2)}@example.com`, 'user[cellphone]': nextUsPhone(), 'user[country_code]': '1' });
  expect(reg.status).toBe(200);
  const authyId = (reg.body['user'] as { id: number }).id;
  const act = await fetch(`${lb}/v1/users/${authyId}/activations`, { method: 'POST', headers: { 'X-Authy-API-Key': apiKey, 'content-type': 'application/json' }, body: '{}' });
  expect(act.status).toBe(201);
  const { activation } = (await act.json()) as { activation: { link: string } };
  return { authyId, device: await TestDevice.activate(via, activation.link) };
}

/** Sign up through `b`, add an authenticator, and return the device (activated through `via`). */
async function signupWithDevice(c: Cluster, b: Browser, via: string) {
  const u = newUser();
  await c.signUp(b, u);
  const act = await b.post('/user/authenticators', { name: 'Phone' });
  expect(act.status).toBe(201);
  const device = await TestDevice.activate(via, (act.body.activation as { link: string }).link);
  return { u, device };
}

/** Run `fn` over `items` with at most `n` at once. */
async function pool<T>(items: T[], n: number, fn: (x: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      for (let i = next++; i < items.length; i = next++) await fn(items[i]!, i);
    }),
  );
}

for (const redis of [false, true]) {
  describe.skipIf(!pgAvailable())(`scale-out: 3 app + 2 service instances on PostgreSQL${redis ? ' and Redis' : ''}`, () => {
    let c: Cluster;
    let app: Instance[];
    let svc: Instance[];
    beforeAll(async () => {
      c = await Cluster.start({ apps: 3, verifies: 2, redis, env: LIMITS });
      app = c.apps;
      svc = c.verifies;
    }, 90_000);
    afterAll(async () => {
      await c?.stop();
    });

    it('when 5 instances start at the same moment on an empty database then one of them migrates it and all are ready', async () => {
      const migrated = c.all.filter((i) => i.server.output().includes('"migrations applied"'));
      expect(migrated.map((i) => i.name)).toHaveLength(1);
      const names = await c.query<{ name: string }>('select name from kysely_migration order by name');
      expect(names.map((r) => r.name)).toEqual([...new Set(names.map((r) => r.name))]);
      expect(names.length).toBeGreaterThanOrEqual(7);
      for (const i of c.all) {
        const r = await readiness(i.url);
        expect({ name: i.name, ...r }).toEqual({ name: i.name, status: 200, checks: { database: 'ok', events: 'ok', ...(redis ? { redis: 'ok' } : {}) } });
      }
    });

    it('when each step of a login runs on a different instance then the approval reaches the waiting browser and the session works everywhere', async () => {
      // Signup and the authenticator on app 1; the device activates and streams on service 1.
      const b1 = c.browser(app[0]!);
      const { u, device } = await signupWithDevice(c, b1, svc[0]!.url);
      const deviceStream = await openSse(`${svc[0]!.url}/v1/devices/${device.id}/events`, device.signedHeaders('GET', `/v1/devices/${device.id}/events`));
      expect(deviceStream.status).toBe(200);
      expect((await b1.del('/session')).status).toBe(200);

      // Login on app 2; the browser waits on app 3.
      const login = await b1.via(app[1]!.url).post('/session', { email: u.email, password: u.password });
      expect(login.body.state).toBe('approve');
      const status = await openSse(`${app[2]!.url}/authy/status`, { cookie: b1.cookie! });
      expect(status.status).toBe(200);

      // The device hears of the request on service 1 (whichever instance created it) and answers on service 2.
      const ev = await deviceStream.waitFor((e) => e.event === 'approval_request');
      const req = JSON.parse(ev.data) as PendingApproval;
      expect((await device.via(svc[1]!.url).answer(req, 'approve', String(login.body.number))).status).toBe(200);
      await status.waitFor(statusEvent('approved'));
      status.close();
      deviceStream.close();

      // The half session becomes a full one on app 1, and every instance knows it.
      expect((await b1.via(app[0]!.url).post('/session/complete')).status).toBe(200);
      for (const a of app) expect((await b1.via(a.url).get('/user')).status).toBe(200);

      // Logout on app 3 is effective on all instances at once.
      expect((await b1.via(app[2]!.url).del('/session')).status).toBe(200);
      const after = await Promise.all(app.map((a) => b1.via(a.url).get('/user')));
      expect(after.map((r) => r.status)).toEqual([401, 401, 401]);
    });

    it('when requests are created on one service instance and answered on the other then every event crosses to the other instances (latency printed)', async () => {
      const { device, authyId } = await apiUserWithDevice(c.secrets.VERIFY_API_KEY!, c.verifyLb.url, svc[0]!.url);
      const deviceStream = await openSse(`${svc[0]!.url}/v1/devices/${device.id}/events`, device.signedHeaders('GET', `/v1/devices/${device.id}/events`));
      const toDevice: number[] = [];
      for (let i = 0; i < 60; i++) {
        const t0 = performance.now();
        const r = await authy(svc[1]!.url, c.secrets.VERIFY_API_KEY!, 'POST', `/onetouch/json/users/${authyId}/approval_requests`, { message: `Scale ${i}` });
        expect(r.status).toBe(200);
        const uuid = (r.body['approval_request'] as { uuid: string }).uuid;
        const ev = await deviceStream.waitFor((e) => e.event === 'approval_request' && (JSON.parse(e.data) as { uuid: string }).uuid === uuid, 5000);
        if (i >= 10) toDevice.push(ev.at - t0);
      }
      deviceStream.close();

      // Browser side: the approval answered through service 2 reaches the SSE stream on app 3.
      let b!: Browser;
      let u!: ReturnType<typeof newUser>;
      let d2!: TestDevice;
      const toBrowser: number[] = [];
      for (let i = 0; i < 30; i++) {
        // A new account every 5 logins: each account may log in LOGIN_PER_ACCOUNT_LIMIT (10) times.
        if (i % 5 === 0) {
          b = c.browser(app[0]!);
          ({ u, device: d2 } = await signupWithDevice(c, b, svc[1]!.url));
        }
        const login = await b.via(app[1]!.url).post('/session', { email: u.email, password: u.password });
        expect(login.body.state).toBe('approve');
        const s = await openSse(`${app[2]!.url}/authy/status`, { cookie: b.cookie! });
        const [req] = await eventually(async () => {
          const l = await d2.via(svc[1]!.url).pending();
          return l.length ? l : undefined;
        });
        const t0 = performance.now();
        expect((await d2.via(svc[1]!.url).answer(req!, 'deny', null)).status).toBe(200);
        const ev = await s.waitFor(statusEvent('denied'), 5000);
        toBrowser.push(ev.at - t0);
        s.close();
      }
      const report = (xs: number[]) => `p50 ${percentile(xs, 0.5).toFixed(1)} ms, p99 ${percentile(xs, 0.99).toFixed(1)} ms (n=${xs.length})`;
      console.log(`[scale${redis ? '+redis' : ''}] request created on service 2 → device stream on service 1: ${report(toDevice)}`);
      console.log(`[scale${redis ? '+redis' : ''}] device answer on service 2 → browser stream on app 3 (incl. callback): ${report(toBrowser)}`);
      // Every event arrived (waitFor would have thrown); the timing is reported, not asserted.
      expect(toDevice).toHaveLength(50);
      expect(toBrowser).toHaveLength(30);
    }, 60_000);

    it('when 30 wrong codes are spread over the 3 app instances then the account locks at the same count as on one instance', async () => {
      // One user guesses through all three instances, another through app 1 only: the responses
      // and the service's counters must match step for step.
      const run = async (targets: Instance[]) => {
        const b = c.browser(targets[0]!);
        const u = newUser();
        await c.signUp(b, u);
        const secret = await addTotpApp(b);
        const authyId = (await c.query<{ authy_id: number }>('select authy_id from app_users where email = $1', [u.email]))[0]!.authy_id;
        expect((await b.del('/session')).status).toBe(200);
        const steps: string[] = [];
        for (let i = 0; i < 30; i++) {
          const at = targets[i % targets.length]!.url;
          if (i % 5 === 0) {
            const login = await b.via(targets[(i / 5) % targets.length]!.url).post('/session', { email: u.email, password: u.password });
            expect(login.status).toBe(200);
          }
          const r = await b.via(at).post('/session/verify', { code: otherCode(totpAt(secret, Date.now())) });
          const [row] = await c.query<{ failed_verifications: number; locked: boolean }>(
            'select failed_verifications, locked_until is not null as locked from verify_users where id = $1',
            [authyId],
          );
          steps.push(`${r.status} ${String(r.body.code)} left=${String(r.body.attempts_left)} failures=${row!.failed_verifications} locked=${row!.locked}`);
        }
        // Locked: even the right code is refused, on every instance.
        const login = await b.via(targets[0]!.url).post('/session', { email: u.email, password: u.password });
        expect(login.status).toBe(200);
        const right = await b.via(targets[targets.length - 1]!.url).post('/session/verify', { code: totpAt(secret, Date.now()) });
        return { steps, right: right.status };
      };
      const spread = await run(app);
      const single = await run([app[0]!]);
      expect(spread.steps).toEqual(single.steps);
      // The lock came with the 10th consecutive failure (OTP_LOCKOUT_THRESHOLD), not later.
      expect(spread.steps[8]).toContain('locked=false');
      expect(spread.steps[9]).toContain('locked=true');
      expect(spread.right).toBe(400);
      expect(single.right).toBe(400);
    }, 60_000);

    it('when 30 wrong codes race on one login attempt through the 3 app instances then at most 5 reach the service', async () => {
      const b = c.browser(app[0]!);
      const u = newUser();
      await c.signUp(b, u);
      expect((await b.post('/user/totp-app', {})).status).toBe(201);
      const authyId = (await c.query<{ authy_id: number }>('select authy_id from app_users where email = $1', [u.email]))[0]!.authy_id;
      expect((await b.del('/session')).status).toBe(200);
      expect((await b.post('/session', { email: u.email, password: u.password })).status).toBe(200);
      const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => b.via(app[i % 3]!.url).post('/session/verify', { code: '000000' })));
      expect(burst.filter((r) => r.status === 400).length).toBeLessThanOrEqual(4);
      expect(burst.some((r) => r.body.code === 'TOO_MANY_ATTEMPTS')).toBe(true);
      const [row] = await c.query<{ failed_verifications: number }>('select failed_verifications from verify_users where id = $1', [authyId]);
      expect(row!.failed_verifications).toBeLessThanOrEqual(5);
    });

    it('when password guesses for one account are spread over the 3 app instances then the 11th is refused as on one instance', async () => {
      const b = c.browser(app[0]!);
      const u = newUser();
      await c.signUp(b, u);
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await b.via(app[i % 3]!.url).post('/session', { email: u.email, password: 'wrong password here' })).status);
      expect(statuses).toEqual([...Array<number>(10).fill(401), 429, 429]);
    });

    // An API app (made by `twofold apps create`) whose callbacks go to a receiver the test reads.
    const receiver = new Receiver();
    let apiKey: string;
    let users: { authyId: number; device: TestDevice }[];
    beforeAll(async () => {
      await receiver.listen();
      apiKey = createApp(c, `${receiver.url}/cb`);
      receiver.apiKey = apiKey;
      users = [];
      for (let i = 0; i < 10; i++) users.push(await apiUserWithDevice(apiKey, c.verifyLb.url, svc[i % 2]!.url));
    }, 60_000);
    afterAll(() => receiver.close());

    async function delivered(outcomes: Map<string, string>, timeoutMs: number) {
      const uuids = new Set(outcomes.keys());
      await eventually(async () => receiver.distinct(uuids).size === uuids.size, timeoutMs);
      // Let any late duplicate arrive before counting.
      await new Promise((r) => setTimeout(r, 1500));
      const counts = receiver.distinct(uuids);
      for (const d of receiver.deliveries.filter((x) => uuids.has(x.uuid))) {
        expect(d.validSignature).toBe(true);
        expect(d.status).toBe(outcomes.get(d.uuid));
      }
      return counts;
    }

    describe('callbacks', () => {
      /** 200 requests, created and answered alternately on the two service instances. */
      async function approvals(onAnswered?: (n: number) => Promise<void>) {
        const outcomes = new Map<string, string>();
        let answered = 0;
        await pool(Array.from({ length: 200 }, (_, i) => i), 16, async (i) => {
          const { authyId, device } = users[i % users.length]!;
          const live = () => c.verifies.filter((v) => v.server.child.exitCode === null && v.server.child.signalCode === null);
          // A client retries on the other instance when the first does not answer (what a balancer does).
          const onSome = async <T>(k: number, fn: (url: string) => Promise<T>): Promise<T> => {
            for (let t = 0; ; t++) {
              const l = live();
              try {
                return await fn(l[(k + t) % l.length]!.url);
              } catch (e) {
                if (t >= 3) throw e;
              }
            }
          };
          const created = await onSome(i, (url) => authy(url, apiKey, 'POST', `/onetouch/json/users/${authyId}/approval_requests`, { message: `Payment ${i}`, 'details[Amount]': String(i) }));
          expect(created.status).toBe(200);
          const uuid = (created.body['approval_request'] as { uuid: string }).uuid;
          const decision = i % 3 === 0 ? 'deny' : 'approve';
          const pending = await onSome(i + 1, async (url) => {
            const all = await device.via(url).pending();
            const req = all.find((r) => r.uuid === uuid);
            if (!req) throw new Error('not listed yet');
            return req;
          });
          const expected = decision === 'approve' ? 'approved' : 'denied';
          let interrupted = false;
          const answer = await onSome(i + 1, async (url) => {
            try {
              return await device.via(url).answer(pending, decision, null);
            } catch (e) {
              interrupted = true;
              throw e;
            }
          });
          // 200, or — when the instance that took the first try died before answering — 409 saying
          // the request already carries this answer (the dead instance committed it).
          if (!(interrupted && answer.status === 409)) expect(answer.status).toBe(200);
          else expect(answer.body.status).toBe(expected);
          outcomes.set(uuid, expected);
          answered++;
          await onAnswered?.(answered);
        });
        return outcomes;
      }

      it('when 200 approvals are answered across the service instances then exactly 200 callbacks arrive, none twice', async () => {
        const outcomes = await approvals();
        expect(outcomes.size).toBe(200);
        const counts = await delivered(outcomes, 20_000);
        expect(counts.size).toBe(200);
        expect([...counts.values()].filter((n) => n > 1)).toEqual([]);
        const rows = await c.query<{ n: string }>("select count(*) as n from callback_outbox o join apps a on a.id = o.app_id where a.name = 'Scale test' and delivered_at is not null");
        expect(Number(rows[0]!.n)).toBe(200);
      }, 120_000);

      it('when a service instance is killed mid-run then every one of 200 callbacks still arrives, and only an interrupted send can repeat', async () => {
        const victim = svc[1]!;
        let outcomes: Map<string, string>;
        try {
          outcomes = await approvals(async (n) => {
            if (n === 100) await c.kill(victim);
          });
        } finally {
          // Whatever happened, the later tests need both service instances again.
          if (victim.server.child.exitCode !== null || victim.server.child.signalCode !== null) await c.restart(victim);
        }
        expect(outcomes.size).toBe(200);
        // The victim's claimed rows come back after their lease (15 s) and go out from service 1.
        const counts = await delivered(outcomes, 45_000);
        expect(counts.size).toBe(200);
        // Delivery is at-least-once: a send the kill cut off after the app had the POST but before
        // the victim recorded the delivery goes out again once its lease lapses. That repeat is
        // allowed and counted. Nothing else repeats: an instance sends a row only while its lease
        // holds (callbacks.test.ts, "callback leases between instances"), so a callback arrives at
        // most twice (one kill), and only if it was claimed more than once.
        const repeated = [...counts.entries()].filter(([, n]) => n > 1).map(([u]) => u);
        expect(Math.max(...counts.values())).toBeLessThanOrEqual(2);
        if (repeated.length) {
          const retried = await c.query<{ uuid: string }>('select approval_uuid as uuid from callback_outbox where attempts > 1 and approval_uuid = any($1)', [repeated]);
          expect(retried.map((r) => r.uuid).sort()).toEqual([...repeated].sort());
        }
        const reclaimed = await c.query<{ n: string }>("select count(*) as n from callback_outbox o join apps a on a.id = o.app_id where a.name = 'Scale test' and attempts > 1");
        console.log(
          `[scale${redis ? '+redis' : ''}] kill mid-run: 200 callbacks delivered; ${reclaimed[0]!.n} sends cut off by the kill and retried after the lease; ` +
            `${repeated.length} arrived twice (allowed, at-least-once: the app had them when the kill came, before the delivery was recorded)`,
        );
        expect((await readiness(victim.url)).status).toBe(200);
      }, 150_000);
    });

    it('when PostgreSQL goes away during load then instances answer 503, recover by themselves, and nothing acknowledged is lost', async () => {
      const lb = new Browser(c.appLb.url);
      // A browser already waiting for an approval across the outage.
      const { u: waiting, device } = await signupWithDevice(c, lb, svc[0]!.url);
      expect((await lb.del('/session')).status).toBe(200);
      const waitLogin = await lb.via(app[1]!.url).post('/session', { email: waiting.email, password: waiting.password });
      expect(waitLogin.body.state).toBe('approve');
      const waitStream = await openSse(`${app[1]!.url}/authy/status`, { cookie: lb.cookie! });

      const acknowledged: { email: string; password: string }[] = [];
      const statuses = new Map<number, number>();
      const thrown: string[] = [];
      let stop = false;
      // API-side work: approval requests created and answered through the service balancer.
      const createdAck: string[] = [];
      const answeredAck = new Map<string, string>();
      const apiStatuses = new Map<number, number>();
      const count = (m: Map<number, number>, k: number) => m.set(k, (m.get(k) ?? 0) + 1);
      const apiLoad = Promise.all(
        users.slice(0, 4).map(async ({ authyId, device }, w) => {
          for (let k = 0; !stop; k++) {
            try {
              const created = await authy(c.verifyLb.url, apiKey, 'POST', `/onetouch/json/users/${authyId}/approval_requests`, { message: `Outage ${w}.${k}` });
              count(apiStatuses, created.status);
              if (created.status !== 200) {
                await new Promise((r) => setTimeout(r, 50));
                continue;
              }
              const uuid = (created.body['approval_request'] as { uuid: string }).uuid;
              createdAck.push(uuid);
              const req = await eventually(async () => {
                try {
                  return (await device.via(c.verifyLb.url).pending()).find((r) => r.uuid === uuid);
                } catch {
                  return undefined; // 503 while the database is away: try again
                }
              }, 20_000);
              const decision = k % 2 ? 'approve' : 'deny';
              for (let tries = 0; ; tries++) {
                const a = await device.via(c.verifyLb.url).answer(req, decision, null);
                count(apiStatuses, a.status);
                // A 409 after a 503: the earlier try committed before the connection went (not
                // acknowledged, so not counted, but its callback may still come).
                if (a.status === 200 || (a.status === 409 && tries > 0)) {
                  if (a.status === 200) answeredAck.set(uuid, decision === 'approve' ? 'approved' : 'denied');
                  break;
                }
                expect(a.status).toBe(503);
                await new Promise((r) => setTimeout(r, 100));
              }
            } catch (e) {
              count(apiStatuses, -1);
              throw e;
            }
          }
        }),
      );
      const load = Promise.all(
        Array.from({ length: 4 }, async (_, w) => {
          for (let k = 0; !stop; k++) {
            const u = newUser();
            const b = c.browser(app[(w + k) % 3]!);
            let status = 0;
            try {
              // A signup is acknowledged when its phone code answers 201.
              const r = await c.signUp(b, u, { expectStatus: 201 });
              status = r.status;
              if (r.status === 201) acknowledged.push(u);
            } catch (e) {
              status = -1;
              thrown.push((e as Error).message);
            }
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
            if (status !== 201) await new Promise((r) => setTimeout(r, 50));
          }
        }),
      );
      await new Promise((r) => setTimeout(r, 1500));
      const before = acknowledged.length;

      c.pgLink.cut();
      const downSince = Date.now();
      // Every instance reports itself unready while the database is away.
      await eventually(async () => (await Promise.all(c.all.map((i) => readiness(i.url)))).every((r) => r.status === 503), 10_000);
      const during = await Promise.all(c.all.map((i) => readiness(i.url)));
      for (const r of during) expect(r.checks['database']).toBe('unreachable');
      while (Date.now() - downSince < 3000) await new Promise((r) => setTimeout(r, 100));
      c.pgLink.restore();
      const restoredAt = Date.now();

      // Back by themselves: ready again without a restart.
      await eventually(async () => (await Promise.all(c.all.map((i) => readiness(i.url)))).every((r) => r.status === 200), 20_000);
      const recoveredMs = Date.now() - restoredAt;
      await new Promise((r) => setTimeout(r, 1500));
      stop = true;
      await load;
      await apiLoad;

      // Clients saw successes and 503s, never a 500 or a dropped connection.
      const seen = Object.fromEntries(statuses);
      // A signup that threw names its error, and the instances' warnings and errors follow (a link
      // that never came: a database error the retry did not take for an outage, a retry too long,
      // or a link dropped by the per-address cap, which each retry used to count again).
      const errors = () => c.all.flatMap((i) => i.server.output().split('\n').filter((l) => /"level":(40|50|60)/.test(l))).slice(-40);
      expect(Object.keys(seen).filter((k) => k !== '201' && k !== '503'), thrown.length ? `${thrown.join('; ')}\ninstance warnings and errors:\n${errors().join('\n')}` : '').toEqual([]);
      expect(seen['503']).toBeGreaterThan(0);
      expect(acknowledged.length).toBeGreaterThan(before);

      // Every acknowledged signup is there.
      const emails = acknowledged.map((u) => u.email);
      const found = await c.query<{ email: string; authy_id: number | null }>('select email, authy_id from app_users where email = any($1)', [emails]);
      expect(found.length).toBe(emails.length);
      expect(found.every((r) => r.authy_id !== null)).toBe(true);
      // And can log in (a sample through the balancer).
      for (const u of acknowledged.slice(-5)) {
        const r = await new Browser(c.appLb.url).post('/session', { email: u.email, password: u.password });
        expect(r.status).toBe(200);
      }

      // The API side: no 500, every acknowledged request is stored and every acknowledged answer
      // reaches the app as a signed callback with its outcome, exactly once.
      const api = Object.fromEntries(apiStatuses);
      expect(Object.keys(api).filter((k) => k !== '200' && k !== '503' && k !== '409')).toEqual([]);
      const stored = await c.query<{ uuid: string }>('select uuid from approval_requests where uuid = any($1)', [createdAck]);
      expect(stored.length).toBe(createdAck.length);
      expect(answeredAck.size).toBeGreaterThan(0);
      const counts = await delivered(answeredAck, 30_000);
      expect([...counts.values()].every((n) => n === 1)).toBe(true);

      // The browser that waited through the outage learns of the approval (the event bus reconnected).
      const [req] = await eventually(async () => {
        const l = await device.via(svc[1]!.url).pending();
        return l.length ? l : undefined;
      }, 10_000);
      expect((await device.via(svc[1]!.url).answer(req!, 'approve', String(waitLogin.body.number))).status).toBe(200);
      await waitStream.waitFor(statusEvent('approved'), 10_000);
      waitStream.close();
      console.log(
        `[scale${redis ? '+redis' : ''}] outage: all instances ready ${recoveredMs} ms after the database returned; signups ${JSON.stringify(seen)}, ${acknowledged.length} acknowledged and all found; ` +
          `API ${JSON.stringify(api)}, ${createdAck.length} requests acknowledged and stored, ${answeredAck.size} answers acknowledged and called back once each`,
      );
    }, 90_000);

    if (redis) {
      it('when Redis goes away then /readyz says so, and when it is back the instances are ready again', async () => {
        c.redisLink!.cut();
        await eventually(async () => (await Promise.all(c.all.map((i) => readiness(i.url)))).every((r) => r.status === 503 && r.checks['redis'] === 'unreachable'), 15_000);
        c.redisLink!.restore();
        await eventually(async () => (await Promise.all(c.all.map((i) => readiness(i.url)))).every((r) => r.status === 200), 20_000);
      }, 60_000);
    }
  });
}
