/**
 * Metric 1, push approval latency: from the moment the device's signed "approve" leaves the
 * client to the moment the waiting browser's status stream (`GET /authy/status`, SSE) says
 * "approved" — through the device API, the service's signed callback to the app
 * (`POST /authy/callback`) and the app's event bus.
 *
 * Everything goes through HTTP as a person would: signup, adding an authenticator (activation
 * link, key generated on the device), `POST /session` with the password, the browser's stream.
 *
 * - 1 pending: one login at a time; its browser waits on the stream; its device answers.
 * - 1,000 pending: 1,000 logins stay pending, each with its browser waiting on a stream, while
 *   MEASURED more logins are approved one after another as in the first case, so at least
 *   1,000 are pending throughout and the two cases differ only in what is pending. (The server's
 *   CPU per approval is reported too: it bounds the approval rate one instance sustains.) The 1,000 are made by the server process as the password step makes
 *   them, minus the password hash (a thousand argon2id hashes would take most of the run); the
 *   measured ones go through `POST /session`.
 *
 * Raises PUSH_PER_USER_LIMIT and the login limits (one client IP, few accounts, many logins).
 */
import { Browser, outboxFileCode, outboxFileSignupToken, signUp } from '../test/app/helpers.js';
import { activateDevice, DeviceClient, type ApprovalForDevice } from '../src/authenticator/client.js';
import { openStatusStream, pool, profiled, PUSH_BENCH_ENV, quantile, startChild, suite, type StatusStream } from './lib.js';

const USERS = 25;
const SEQUENTIAL = Number(process.env['BENCH_PUSH_SEQUENTIAL'] ?? 100);
const BACKGROUND = Number(process.env['BENCH_PUSH_PENDING'] ?? 1000);
const MEASURED = Number(process.env['BENCH_PUSH_MEASURED'] ?? 200);
const PASSWORD = 'correct horse battery staple';

interface User {
  email: string;
  device: DeviceClient;
}

interface Login {
  user: User;
  number: string;
  stream: StatusStream;
  approval?: ApprovalForDevice;
}

async function enrolUser(url: string, i: number, dataDir: string): Promise<User> {
  const b = new Browser(url);
  const email = `push${i}@example.com`;
  await signUp(b, { fullName: 'Push Bench', email, password: PASSWORD, countryCode: 'US', phone: `201555${String(1000 + i)}` }, { code: async (to) => outboxFileCode(dataDir, to!), emailToken: (e) => outboxFileSignupToken(dataDir, e) });
  const act = await b.post('/user/authenticators', { name: 'bench phone' });
  if (act.status !== 201) throw new Error(`activation link: ${act.status} ${JSON.stringify(act.body)}`);
  const link = (act.body['activation'] as { link: string }).link;
  return { email, device: new DeviceClient(await activateDevice(link, { name: 'bench phone' })) };
}

/** Password step, then the browser's status stream, open and told "pending". */
async function logIn(url: string, user: User): Promise<Login> {
  const b = new Browser(url);
  const r = await b.post('/session', { email: user.email, password: PASSWORD });
  if (r.status !== 200 || r.body['state'] !== 'approve') throw new Error(`login: ${r.status} ${JSON.stringify(r.body)}`);
  const stream = openStatusStream(url, b.cookie!);
  await stream.opened;
  return { user, number: String(r.body['number']), stream };
}

/** Sign the answer first (device-side work), then time from sending it to the browser hearing it. */
async function approveAndTime(l: Login): Promise<number> {
  const a = l.approval!;
  const body = l.user.device.answerBody(a.uuid, 'approve', l.number, { message: a.message, details: a.details });
  const t0 = performance.now();
  const res = await l.user.device.request('POST', `/v1/devices/${l.user.device.state.device_id}/approval_requests/${a.uuid}/response`, body);
  if (!res.ok) throw new Error(`approve: ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
  const heard = await l.stream.approved;
  l.stream.close();
  return heard - t0;
}

await suite('push-approval', async () => {
  const s = await startChild('servers/twofold.ts', { BENCH_TWOFOLD_ENV: JSON.stringify(PUSH_BENCH_ENV) });
  const streams: StatusStream[] = [];
  try {
    const users = new Array<User>(USERS);
    // A production server does not serve /dev/sms: the codes come from its outbox file.
    const dataDir = await s.call<string>('dataDir');
    await pool(Array.from({ length: USERS }, (_, i) => i), 4, async (i) => {
      users[i] = await enrolUser(s.url, i, dataDir);
    });

    // One pending login at a time.
    const one: number[] = [];
    for (let k = 0; k < SEQUENTIAL; k++) {
      const l = await logIn(s.url, users[k % USERS]!);
      streams.push(l.stream);
      const [newest] = await l.user.device.pending();
      if (!newest || newest.number_matching !== true) throw new Error('no pending approval on the device');
      l.approval = newest;
      one.push(await approveAndTime(l));
    }

    // BACKGROUND pending logins made as the password step makes them (without hashing a
    // password a thousand times), each with its browser waiting on a stream...
    const perUser = Math.ceil(BACKGROUND / USERS);
    const seeded = await s.call<{ cookie: string; number: string }[][]>('seedPendingPushLogins', { emails: users.map((u) => u.email), perUser });
    await pool(seeded.flat(), 32, async (l) => {
      const st = openStatusStream(s.url, l.cookie);
      streams.push(st);
      await st.opened;
    });
    // ...then MEASURED more through `POST /session`, each user's one after another so that its
    // device's list (newest first) lines up with them.
    const byUser: Login[][] = users.map(() => []);
    const measuredPerUser = Math.ceil(MEASURED / USERS);
    await pool(users, 4, async (u, i) => {
      for (let j = 0; j < measuredPerUser; j++) {
        const l = await logIn(s.url, u);
        streams.push(l.stream);
        byUser[i]!.push(l);
      }
    });
    await pool(users, 4, async (u, i) => {
      const list = await u.device.pending();
      const mine = byUser[i]!;
      if (list.length !== perUser + mine.length) throw new Error(`device lists ${list.length} pending, expected ${perUser + mine.length}`);
      mine.forEach((l, j) => {
        l.approval = list[mine.length - 1 - j];
      });
    });
    // Round-robin across users, so consecutive answers come from different devices.
    const measured: Login[] = [];
    for (let j = 0; j < measuredPerUser; j++) for (const mine of byUser) if (measured.length < MEASURED) measured.push(mine[j]!);
    const pendingAtStart = seeded.flat().length + measured.length;
    const cpu0 = s.cpuMs();
    const many = await profiled(s, 'push-approval', async () => {
      const timings: number[] = [];
      for (const l of measured) timings.push(await approveAndTime(l));
      return timings;
    });
    const cpuPerApproval = (s.cpuMs() - cpu0) / measured.length;
    if (pendingAtStart - measured.length < BACKGROUND) throw new Error('fewer logins pending than intended');

    return [
      { name: 'push_approval_p50_1_pending', unit: 'ms', value: quantile(one, 0.5) },
      { name: 'push_approval_p99_1_pending', unit: 'ms', value: quantile(one, 0.99) },
      { name: 'push_approval_p50_1000_pending', unit: 'ms', value: quantile(many, 0.5) },
      { name: 'push_approval_p99_1000_pending', unit: 'ms', value: quantile(many, 0.99) },
      { name: 'push_approval_server_cpu', unit: 'ms/approval', value: cpuPerApproval },
    ];
  } finally {
    for (const st of streams) st.close();
    await s.stop();
  }
});
