/**
 * Twofold as the benches run it: the whole system in one process (embedded mode, SQLite in a
 * temporary DATA_DIR), NODE_ENV=production, on 127.0.0.1. Environment overrides come from
 * BENCH_TWOFOLD_ENV (JSON). Started by `startChild('servers/twofold.ts')`.
 *
 * Its commands prepare what a run needs faster than the HTTP routes could (they would hash a
 * password per login); what they write is exactly what those routes write:
 *   seedCodeLogins { users, perUser } → half sessions waiting for a TOTP code (`POST /session`
 *       done, `state: code`), for users with a TOTP secret at the service
 *   seedServiceUsers { users } → users of the Authy API with a TOTP secret
 *   seedWaitingLogins { count } → half sessions whose attempt waits for a push approval
 *       (the attempt's row only: for holding status streams)
 *   seedPendingPushLogins { emails, perUser } → logins of users with an authenticator waiting
 *       for their approval, the request made at the service as `POST /session` makes it
 *   memory → process.memoryUsage(); heapSpaces → v8.getHeapSpaceStatistics()
 *   gc → a full GC (the child started with --expose-gc); heap { file } → a heap snapshot
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import webpush from 'web-push';
import { AuthyClient } from '../../src/app/authy-client.js';
import { LoginAttempts } from '../../src/app/login-attempts.js';
import { hashPassword } from '../../src/app/passwords.js';
import { cookiePolicy, SessionStore } from '../../src/app/sessions.js';
import type { AppTables } from '../../src/app/schema.js';
import { forContext } from '../../src/platform/context.js';
import { loadConfig } from '../../src/platform/config.js';
import { createLogger } from '../../src/platform/logger.js';
import { createSystem } from '../../src/system.js';
import { AppStore } from '../../src/verify/core/apps.js';
import { parsePhone } from '../../src/verify/core/phone.js';
import { TotpSecrets } from '../../src/verify/core/totp-secrets.js';
import { UserStore } from '../../src/verify/core/users.js';
import type { VerifyTables } from '../../src/verify/schema.js';
import { serveChild } from '../lib.js';

/** Production never generates secrets: the bench brings its own. */
const BENCH_VAPID = webpush.generateVAPIDKeys();
const dataDir = mkdtempSync(join(tmpdir(), 'twofold-bench-'));
const overrides = JSON.parse(process.env['BENCH_TWOFOLD_ENV'] ?? '{}') as Record<string, string>;
const config = loadConfig({
  NODE_ENV: 'production',
  LOG_LEVEL: 'error',
  HOST: '127.0.0.1',
  DATA_DIR: dataDir,
  ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  // Production names its database: SQLite here unless an override brings PostgreSQL.
  DATABASE_URL: `sqlite:${join(dataDir, 'twofold.sqlite')}`,
  VERIFY_API_KEY: randomBytes(24).toString('base64url'),
  VAPID_PUBLIC_KEY: BENCH_VAPID.publicKey,
  VAPID_PRIVATE_KEY: BENCH_VAPID.privateKey,
  // Every load generator speaks from 127.0.0.1: one address sends all the codes.
  CODE_PER_IP_LIMIT: '100000000',
  LINK_PER_IP_LIMIT: '100000000',
  ...overrides,
});
const system = await createSystem({ config, logger: createLogger(config.LOG_LEVEL) });
const url = await system.listen(0, '127.0.0.1');
const p = system.platform;
// The bench seeds every context's tables directly; each store gets its context's view.
const db = system.db;
const core = forContext<VerifyTables>(p);
const app = forContext<AppTables>(p);
const verifyUsers = new UserStore(core.db.db, p.clock);
const totp = new TotpSecrets(core);
const sessions = new SessionStore(app.db.db, p.clock, config);
const attempts = new LoginAttempts(app.db.db, p.clock);
const cookieName = cookiePolicy(config).name;
const client = new AuthyClient({ baseUrl: () => url, apiKey: config.appApiKey });

let seeded = 0;
let passwordHash: string | undefined;

async function builtinAppId(): Promise<number> {
  const builtin = (await new AppStore(core.db.db, p.clock).list()).find((a) => a.builtin);
  if (!builtin) throw new Error('no built-in app');
  return builtin.id;
}

/** A distinct valid US number per index (NANP: area code 201, exchanges 200-999). */
function phoneNumber(i: number): string {
  return `201${200 + Math.floor(i / 10_000)}${String(i % 10_000).padStart(4, '0')}`;
}

/** A user of the service with a TOTP secret, as `users/new` and `users/{id}/secret` make them. */
async function serviceUser(appId: number): Promise<{ id: number; secret: string; phone: string }> {
  const i = seeded++;
  const national = phoneNumber(i);
  const phone = parsePhone(national, '1');
  if (!phone) throw new Error(`invalid bench phone ${national}`);
  const id = await verifyUsers.register(appId, `bench${i}@example.com`, phone);
  // Confirmed, as after `users/{id}/secret` and a first code (a login counts only confirmed ones).
  const { id: secretId, parameters: params } = await totp.createForApp(id, undefined, {});
  await totp.confirmApp(id, secretId, {});
  return { id, secret: params.secret, phone: national };
}

/** A web-app user (as signup makes one) registered at the service. */
async function appUser(appId: number): Promise<{ userId: number; secret: string }> {
  passwordHash ??= await hashPassword('correct horse battery staple');
  const s = await serviceUser(appId);
  const row = await db
    .insertInto('app_users')
    .values({
      email: `bench${s.id}@example.com`,
      full_name: 'Bench User',
      password_hash: passwordHash,
      country_code: '1',
      region: 'US',
      phone: s.phone,
      authy_id: s.id,
      totp_app_confirmed_at: p.clock.now(),
      created_at: p.clock.now(),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { userId: row.id, secret: s.secret };
}

/** A half session and its open attempt, as an accepted password leaves them. */
async function halfSession(userId: number): Promise<{ cookie: string; attemptId: string }> {
  const a = await attempts.create(userId);
  const token = await sessions.create(userId, 'half', a.id, { ip: '127.0.0.1', userAgent: 'bench' });
  return { cookie: `${cookieName}=${token}`, attemptId: a.id };
}

serveChild(
  url,
  {
    // A production server does not serve /dev/sms: signups read their codes from the outbox file.
    async dataDir() {
      return dataDir;
    },
    async seedCodeLogins(args) {
      const { users, perUser } = args as { users: number; perUser: number };
      const appId = await builtinAppId();
      const out: { cookie: string; secret: string }[][] = [];
      for (let u = 0; u < users; u++) {
        const { userId, secret } = await appUser(appId);
        const mine: { cookie: string; secret: string }[] = [];
        for (let j = 0; j < perUser; j++) mine.push({ cookie: (await halfSession(userId)).cookie, secret });
        out.push(mine);
      }
      return out;
    },
    async seedServiceUsers(args) {
      const { users } = args as { users: number };
      const appId = await builtinAppId();
      const out: { id: number; secret: string }[] = [];
      for (let u = 0; u < users; u++) {
        const { id, secret } = await serviceUser(appId);
        out.push({ id, secret });
      }
      return { apiKey: config.appApiKey, users: out };
    },
    async seedWaitingLogins(args) {
      const { count } = args as { count: number };
      const appId = await builtinAppId();
      const { userId } = await appUser(appId);
      const cookies: string[] = [];
      const expiresAt = p.clock.now() + 120_000;
      for (let i = 0; i < count; i++) {
        const h = await halfSession(userId);
        // The attempt's view of a push request (the stream reads only the app's own row).
        await attempts.attachApproval(h.attemptId, { uuid: randomBytes(16).toString('hex'), number: '42', expiresAt, details: { Email: 'bench@example.com', Browser: 'Bench', IP: '127.0.0.1' } });
        cookies.push(h.cookie);
      }
      return cookies;
    },
    async seedPendingPushLogins(args) {
      // What `POST /session` does once the password is accepted, for a user with an
      // authenticator: a half session and its attempt, and an approval request at the service
      // (number matching, 120 s) attached to the attempt.
      const { emails, perUser } = args as { emails: string[]; perUser: number };
      const out: { cookie: string; number: string }[][] = [];
      for (const email of emails) {
        const user = await db.selectFrom('app_users').select(['id', 'authy_id']).where('email', '=', email).executeTakeFirstOrThrow();
        const mine: { cookie: string; number: string }[] = [];
        for (let j = 0; j < perUser; j++) {
          const h = await halfSession(user.id);
          const details = { Email: email, Browser: 'Chrome', IP: '127.0.0.1' };
          const approval = await client.createApprovalRequest(user.authy_id!, {
            message: `Request to log in to ${config.APP_NAME}`,
            details,
            hiddenDetails: { login_attempt: h.attemptId },
            secondsToExpire: 120,
            numberMatching: true,
          });
          await attempts.attachApproval(h.attemptId, { uuid: approval.uuid, number: approval.number, expiresAt: p.clock.now() + 120_000, details });
          mine.push({ cookie: h.cookie, number: approval.number! });
        }
        out.push(mine);
      }
      return out;
    },
  },
  async () => {
    await system.stop();
    rmSync(dataDir, { recursive: true, force: true });
  },
);
