// Threat: a crash (SIGKILL, power cut, OOM) in the middle of signups, logins and approvals loses
// an acknowledged user, session, approval or callback, or leaves a record half-written.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import type { SystemDatabase } from '../../src/migrations.js';
import { openDatabase, withTables, type Db } from '../../src/platform/db.js';
import { Browser, TestDevice, eventually, newUser, signUp } from '../app/helpers.js';
import { freePort, killChild, serveChild, freshPgDatabase, type ChildServer } from '../helpers/child-server.js';
import { DATABASE_KINDS, pgAvailable } from '../helpers/databases.js';

// Long enough for a few two-step signups (form, then the texted code) beside the approvals.
const LOAD_MS = 4000;

interface Acked {
  signups: { email: string; password: string; browser: Browser }[];
  /** `completed`: the browser already swapped its half session for a full one. */
  approvals: { uuid: string; browser: Browser; completed: boolean }[];
  fullSessions: Browser[];
}

async function userWithDevice(url: string): Promise<{ email: string; password: string; device: TestDevice }> {
  const u = newUser();
  const b = new Browser(url);
  await signUp(b, u);
  const act = await b.post('/user/authenticators', { name: 'Phone' });
  const device = await TestDevice.activate(url, (act.body.activation as { link: string }).link);
  return { email: u.email, password: u.password, device };
}

for (const kind of DATABASE_KINDS) {
  const run = kind === 'postgres' && !pgAvailable() ? describe.skip : describe;
  run(`crash safety under load (${kind})`, () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'twofold-crash-load-'));
    const servers: ChildServer[] = [];
    let drop: (() => Promise<void>) | undefined;
    let db: Db<SystemDatabase> | undefined;

    afterAll(async () => {
      for (const s of servers) await killChild(s);
      await db?.close();
      await drop?.();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('when SIGKILLed mid-load then every acknowledged user, session, approval and callback survives the restart', async () => {
      const env: Record<string, string> = {
        DATA_DIR: dataDir,
        ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        VERIFY_API_KEY: randomBytes(24).toString('base64url'),
        LOGIN_PER_IP_LIMIT: '100000',
        PUSH_PER_USER_LIMIT: '1000',
        SMS_PER_IP_LIMIT: '100000',
        CODE_PER_IP_LIMIT: '100000',
        LINK_PER_IP_LIMIT: '100000',
        // The restarted server comes back at the same address, as a real one does: callbacks
        // queued before the crash are addressed to it.
        PORT: String(await freePort()),
      };
      if (kind === 'postgres') {
        const fresh = await freshPgDatabase('tf_crash_load');
        env['DATABASE_URL'] = fresh.url;
        drop = fresh.drop;
      }
      const first = await serveChild(env);
      servers.push(first);
      const pushers = await Promise.all([0, 1, 2].map(() => userWithDevice(first.url)));

      const acked: Acked = { signups: [], approvals: [], fullSessions: [] };
      let stop = false;
      const signupWorker = async () => {
        while (!stop) {
          const u = newUser();
          const b = new Browser(first.url);
          const r = await signUp(b, u, { expectStatus: 201 }).catch(() => undefined);
          if (r?.status === 201) acked.signups.push({ email: u.email, password: u.password, browser: b });
        }
      };
      const approveWorker = async (p: (typeof pushers)[number]) => {
        while (!stop) {
          try {
            const b = new Browser(first.url);
            const login = await b.post('/session', { email: p.email, password: p.password });
            if (login.body.state !== 'approve') continue;
            const pending = await p.device.pending();
            const mine = pending.find((x) => x.details['IP'] !== undefined) ?? pending[0];
            if (!mine) continue;
            const a = await p.device.answer(mine, 'approve', String(login.body.number));
            if (a.status !== 200) continue;
            const ack = { uuid: mine.uuid, browser: b, completed: false };
            acked.approvals.push(ack);
            const done = await b.post('/session/complete');
            if (done.status === 200) {
              ack.completed = true;
              acked.fullSessions.push(b);
            }
          } catch {
            // The kill cuts requests off mid-flight: only acknowledged work counts.
          }
        }
      };
      const workers = [signupWorker(), signupWorker(), ...pushers.map(approveWorker)];
      await new Promise((r) => setTimeout(r, LOAD_MS));
      await killChild(first);
      stop = true;
      await Promise.all(workers);

      // The load really ran: there is something to lose.
      expect(acked.signups.length).toBeGreaterThan(3);
      expect(acked.approvals.length).toBeGreaterThan(1);

      const second = await serveChild(env);
      servers.push(second);
      const retarget = (b: Browser) => Object.assign(new Browser(second.url, b.userAgent), { cookie: b.cookie });

      // Users: each can log in with its password; its signup session still works.
      for (const s of acked.signups) {
        expect((await retarget(s.browser).get('/user')).status).toBe(200);
        const b = new Browser(second.url);
        const login = await b.post('/session', { email: s.email, password: s.password });
        expect(login.status).toBe(200);
        expect(['code', 'approve']).toContain(login.body.state);
      }
      // Sessions completed by an approval are still logged in.
      for (const b of acked.fullSessions) expect((await retarget(b).get('/user')).status).toBe(200);

      // Approvals: the service kept them, and the callback reached the app after the restart.
      db = withTables<SystemDatabase>(openDatabase(kind === 'postgres' ? { databaseUrl: env['DATABASE_URL'] } : { sqliteFile: join(dataDir, 'twofold.sqlite') }));
      for (const a of acked.approvals) {
        const row = await db.db.selectFrom('approval_requests').select('status').where('uuid', '=', a.uuid).executeTakeFirst();
        expect(row?.status).toBe('approved');
        // The app learns of it only through the callback: its login attempt records the approval
        // and the service records the app's acknowledgement. (Read from the database: a
        // /session/complete cut off by the kill may have rotated the browser's cookie unseen.)
        let seen = '';
        await eventually(async () => {
          const attempt = await db!.db.selectFrom('app_login_attempts').selectAll().where('approval_uuid', '=', a.uuid).executeTakeFirst();
          const sent = await db!.db.selectFrom('callback_outbox').selectAll().where('approval_uuid', '=', a.uuid).executeTakeFirst();
          seen = JSON.stringify({ attempt, sent, now: Date.now() });
          return attempt?.approval_status === 'approved' && sent?.delivered_at != null;
        }, 45_000).catch((e: unknown) => {
          throw new Error(`callback for ${a.uuid} not recorded: ${seen}\n${second.output().slice(-3000)}`, { cause: e });
        });
        // A half session still waiting sees it too.
        if (!a.completed) {
          const status = await retarget(a.browser).get('/authy/status');
          if (status.status !== 401) expect(status.body.status).toBe('approved');
        }
      }

      // Nothing half-written.
      if (kind === 'sqlite') {
        const check = await sql<{ integrity_check: string }>`pragma integrity_check`.execute(db.db);
        expect(check.rows[0]?.integrity_check).toBe('ok');
      }
      const orphans = await db.db.selectFrom('app_users').select('email').where('authy_id', 'is', null).execute();
      expect(orphans).toEqual([]);
      const approvedWithoutCallback = await db.db
        .selectFrom('approval_requests')
        .leftJoin('callback_outbox', 'callback_outbox.approval_uuid', 'approval_requests.uuid')
        .select('approval_requests.uuid')
        .where('approval_requests.status', 'in', ['approved', 'denied'])
        .where('callback_outbox.approval_uuid', 'is', null)
        .execute();
      expect(approvedWithoutCallback).toEqual([]);
    }, 120_000);
  });
}
