/**
 * The peer: better-auth with its two-factor plugin, set up as Twofold is for the benches —
 * better-sqlite3 (the same 12.x build Twofold uses) on a file in a temporary directory, WAL and
 * the same pragmas, its own HTTP handler on a Node http server on 127.0.0.1, its rate limiter
 * off (as Twofold's limits are raised where a bench needs it) and no telemetry.
 *
 * BENCH_BA_FAST_PASSWORDS=1 swaps its password hash for a SHA-256 one: only for the TOTP bench,
 * whose set-up signs in once per prepared request and whose measured request never touches a
 * password. The sign-in bench keeps better-auth's default (scrypt).
 *
 * Commands:
 *   seedTwoFactorLogins { users, perUser } → per user, its TOTP secret and `perUser` sign-ins
 *       left waiting for the second factor (the two-factor cookie), made through better-auth's
 *       own API: sign-up, enable two-factor, confirm it with a first code, sign in
 *   seedUsers { users } → the same users without the pending sign-ins
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { betterAuth } from 'better-auth';
import { getMigrations } from 'better-auth/db/migration';
import { toNodeHandler } from 'better-auth/node';
import { twoFactor } from 'better-auth/plugins/two-factor';
import { base32Decode, generateTotp } from '../../src/verify/core/totp.js';
import { serveChild } from '../lib.js';

const dir = mkdtempSync(join(tmpdir(), 'better-auth-bench-'));
const sqlite = new Database(join(dir, 'auth.sqlite'));
sqlite.pragma('journal_mode = WAL');
sqlite.pragma('synchronous = NORMAL');
sqlite.pragma('foreign_keys = ON');
sqlite.pragma('busy_timeout = 5000');

const fast = process.env['BENCH_BA_FAST_PASSWORDS'] === '1';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

// Listen first: better-auth wants its base URL (origin checks, cookies) at construction.
let handler: ((req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void) | undefined;
const server = createServer((req, res) => handler!(req, res));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const options = {
  appName: 'Bench',
  baseURL: url,
  secret: randomBytes(32).toString('base64'),
  database: sqlite,
  emailAndPassword: {
    enabled: true,
    ...(fast ? { password: { hash: async (p: string) => sha(p), verify: async ({ hash, password }: { hash: string; password: string }) => hash === sha(password) } } : {}),
  },
  plugins: [twoFactor({ issuer: 'Bench' })],
  rateLimit: { enabled: false },
  telemetry: { enabled: false },
  logger: { disabled: true },
  trustedOrigins: [url],
};
const auth = betterAuth(options);
const { runMigrations } = await getMigrations(auth.options);
await runMigrations();
handler = toNodeHandler(auth);

const PASSWORD = 'correct horse battery staple';
let seeded = 0;

const cookiesOf = (h: Headers) =>
  h
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .filter((c) => !c.endsWith('='))
    .join('; ');

async function check(res: Response, what: string): Promise<Response> {
  if (!res.ok) throw new Error(`${what}: ${res.status} ${await res.text()}`);
  return res;
}

/** A user with TOTP two-factor enabled and confirmed; returns its email and base32 secret. */
async function twoFactorUser(): Promise<{ email: string; secret: string }> {
  const email = `bench${seeded++}@example.com`;
  const up = await check(await auth.api.signUpEmail({ body: { email, password: PASSWORD, name: 'Bench User' }, asResponse: true }), 'sign-up');
  const session = new Headers({ cookie: cookiesOf(up.headers), origin: url });
  const en = await check(await auth.api.enableTwoFactor({ body: { password: PASSWORD }, headers: session, asResponse: true }), 'enable');
  const { totpURI } = (await en.json()) as { totpURI: string };
  const secret = new URL(totpURI).searchParams.get('secret')!;
  const code = generateTotp(base32Decode(secret), Date.now());
  await check(await auth.api.verifyTOTP({ body: { code }, headers: session, asResponse: true }), 'confirm');
  return { email, secret };
}

serveChild(
  url,
  {
    async seedUsers(args) {
      const { users } = args as { users: number };
      const out: { email: string; password: string; secret: string }[] = [];
      for (let i = 0; i < users; i++) out.push({ ...(await twoFactorUser()), password: PASSWORD });
      return out;
    },
    async seedTwoFactorLogins(args) {
      const { users, perUser } = args as { users: number; perUser: number };
      const out: { cookie: string; secret: string }[][] = [];
      for (let i = 0; i < users; i++) {
        const u = await twoFactorUser();
        const mine: { cookie: string; secret: string }[] = [];
        for (let j = 0; j < perUser; j++) {
          const res = await check(await auth.api.signInEmail({ body: { email: u.email, password: PASSWORD }, asResponse: true }), 'sign-in');
          const body = (await res.json()) as { twoFactorRedirect?: boolean };
          if (!body.twoFactorRedirect) throw new Error('sign-in did not ask for the second factor');
          mine.push({ cookie: cookiesOf(res.headers), secret: u.secret });
        }
        out.push(mine);
      }
      return out;
    },
    async memory() {
      return process.memoryUsage();
    },
  },
  async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    sqlite.close();
    rmSync(dir, { recursive: true, force: true });
  },
);
