/**
 * Metric 3, password login throughput: `POST /session` with the right password at the
 * configured argon2id parameters (each login then asks the user's authenticator for an
 * approval, the usual path), CONNECTIONS connections for SECONDS. In the same run:
 * - the ceiling: argon2id verifications per second of the same library and parameters, in a
 *   process of its own on the same cores, as many in flight as the login bench has connections;
 * - the peer: better-auth's `POST /api/auth/sign-in/email` (its default scrypt; the users have
 *   two-factor on, so each answers "two-factor required").
 *
 * Raises the login limits and PUSH_PER_USER_LIMIT (one client IP, USERS accounts).
 */
import { Browser, outboxFileCode, outboxFileSignupToken, signUp } from '../test/app/helpers.js';
import { activateDevice } from '../src/authenticator/client.js';
import { load, pool, profiled, PUSH_BENCH_ENV, requireClean, startChild, suite, type LoadRequest, type LoadResult } from './lib.js';

const USERS = 10;
const CONNECTIONS = 8;
const SECONDS = Number(process.env['BENCH_LOGIN_SECONDS'] ?? 5);
const PASSWORD = 'correct horse battery staple';

const loginRequest = (url: string, path: string, email: string): LoadRequest => ({
  method: 'POST',
  path,
  headers: { origin: url, 'content-type': 'application/json' },
  body: JSON.stringify({ email, password: PASSWORD }),
});

async function twofold(): Promise<LoadResult> {
  const s = await startChild('servers/twofold.ts', { BENCH_TWOFOLD_ENV: JSON.stringify(PUSH_BENCH_ENV) });
  try {
    const emails = Array.from({ length: USERS }, (_, i) => `login${i}@example.com`);
    // A production server does not serve /dev/sms: the codes come from its outbox file.
    const dataDir = await s.call<string>('dataDir');
    await pool(emails, 4, async (email, i) => {
      const b = new Browser(s.url);
      await signUp(b, { fullName: 'Login Bench', email, password: PASSWORD, countryCode: 'US', phone: `201555${2000 + i}` }, { code: async (to) => outboxFileCode(dataDir, to!), emailToken: (e) => outboxFileSignupToken(dataDir, e) });
      const act = await b.post('/user/authenticators', { name: 'bench phone' });
      await activateDevice((act.body['activation'] as { link: string }).link, { name: 'bench phone' });
    });
    const requests = emails.map((e) => loginRequest(s.url, '/session', e));
    requireClean('twofold warm-up', await load({ url: s.url, server: s, connections: CONNECTIONS, requests, seconds: 1 }));
    const r = await profiled(s, 'password-login', () => load({ url: s.url, server: s, connections: CONNECTIONS, requests, seconds: SECONDS }));
    return requireClean('twofold POST /session', r);
  } finally {
    await s.stop();
  }
}

async function ceiling(): Promise<{ perSecond: number; cpuMsPerVerify: number }> {
  const c = await startChild('servers/argon2-ceiling.ts');
  try {
    return await c.call<{ perSecond: number; cpuMsPerVerify: number }>('measure', { seconds: SECONDS, concurrency: CONNECTIONS });
  } finally {
    await c.stop();
  }
}

async function betterAuth(): Promise<number> {
  const s = await startChild('servers/better-auth.ts');
  try {
    const users = await s.call<{ email: string }[]>('seedUsers', { users: USERS });
    const requests = users.map((u) => loginRequest(s.url, '/api/auth/sign-in/email', u.email));
    requireClean('better-auth warm-up', await load({ url: s.url, server: s, connections: CONNECTIONS, requests, seconds: 1 }));
    return requireClean('better-auth sign-in', await load({ url: s.url, server: s, connections: CONNECTIONS, requests, seconds: SECONDS })).rps;
  } finally {
    await s.stop();
  }
}

await suite('password-login', async () => {
  const t = await twofold();
  const c = await ceiling();
  const b = await betterAuth();
  return [
    { name: 'password_login_throughput', unit: 'logins/s', value: t.rps, ceiling: { name: 'argon2id verify, same library and parameters', value: c.perSecond }, peer: { name: 'better-auth sign-in (scrypt)', value: b } },
    { name: 'password_login_server_cpu', unit: 'ms/login', value: t.cpuMsPerRequest, ceiling: { name: 'argon2id verify alone', value: c.cpuMsPerVerify } },
  ];
});
