/**
 * Fan-out of an approval to waiting browsers: N Server-Sent Events streams (`GET /authy/status`,
 * Accept: text/event-stream) wait on one login attempt, as N open tabs would; the verification
 * service's signed OneTouch callback (`POST /authy/callback`) arrives, and we time how long until
 * each stream has been told "approved". Loopback only, against a fresh system.
 *
 *   npx tsx bench/sse-fanout.ts            (SQLite in a temporary DATA_DIR)
 *   BENCH_DATABASE_URL=postgres://… npx tsx bench/sse-fanout.ts
 *
 * Bounded: BENCH_ROUNDS logins (default 10), BENCH_STREAMS streams each (default 50), each round
 * given up after 10 s. Prints the callback's own answer time and the time until the first, the
 * median, the 95th-percentile and the last stream heard, in milliseconds.
 */
import { percentiles, startBenchSystem } from './lib.js';
import { activateDevice } from '../src/authenticator/client.js';
import { signCallback } from '../src/platform/authy-signature.js';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 10);
const STREAMS = Number(process.env['BENCH_STREAMS'] ?? 50);
const ROUND_TIMEOUT_MS = 10_000;

/** A browser stand-in: one cookie, JSON with this site's Origin. */
class Browser {
  cookie = '';
  constructor(private readonly base: string) {}
  async post(path: string, body: unknown): Promise<Record<string, unknown>> {
    const res = await fetch(this.base + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: this.base, ...(this.cookie ? { cookie: this.cookie } : {}) },
      body: JSON.stringify(body),
    });
    for (const c of res.headers.getSetCookie()) {
      const pair = c.split(';')[0]!;
      if (/^(__Host-)?twofold=/.test(pair)) this.cookie = pair;
    }
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status >= 300) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  }
}

/** Open one status stream; resolves `opened` at the first (pending) status, `approved` with the time it heard the answer. */
function openStream(base: string, cookie: string, signal: AbortSignal) {
  let resolveOpened!: () => void;
  const opened = new Promise<void>((r) => (resolveOpened = r));
  const approved = (async () => {
    const res = await fetch(`${base}/authy/status`, { headers: { accept: 'text/event-stream', cookie }, signal });
    if (res.status !== 200 || !res.body) throw new Error(`status stream: ${res.status}`);
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body) {
      buf += decoder.decode(chunk as Uint8Array, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (!block.includes('event: status')) continue;
        if (block.includes('"status":"pending"')) resolveOpened();
        if (block.includes('"status":"approved"')) return performance.now();
      }
    }
    throw new Error('stream ended before the approval');
  })();
  return { opened, approved };
}

const pct = (xs: number[]) => percentiles(xs, [0.5, 0.95]);

async function main(): Promise<void> {
  const { system, config, url, stop } = await startBenchSystem('sse', {
    PUSH_PER_USER_LIMIT: '1000000',
    LOGIN_PER_ACCOUNT_LIMIT: '1000000',
    LOGIN_PER_IP_LIMIT: '1000000',
  });
  const db = system.platform.db.db;
  try {
    // One user with an authenticator, so each login asks for an approval.
    const signup = new Browser(url);
    const email = 'fanout@example.com';
    const password = 'correct horse battery staple';
    await signup.post('/user', { fullName: 'Fan Out', email, password, countryCode: 'US', phone: '2015550123' });
    const act = (await signup.post('/user/authenticators', { name: 'bench phone' })) as { activation: { link: string } };
    await activateDevice(act.activation.link, { name: 'bench phone' });

    const callbackMs: number[] = [];
    const first: number[] = [];
    const median: number[] = [];
    const p95: number[] = [];
    const last: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const browser = new Browser(url);
      const login = await browser.post('/session', { email, password });
      if (login['state'] !== 'approve') throw new Error(`login did not ask for an approval: ${JSON.stringify(login)}`);
      const attempt = await db
        .selectFrom('app_login_attempts')
        .select(['id', 'approval_uuid'])
        .where('state', '=', 'open')
        .where('approval_status', '=', 'pending')
        .orderBy('created_at', 'desc')
        .executeTakeFirstOrThrow();

      const ctrl = new AbortController();
      const timer = setTimeout(() => ctrl.abort(), ROUND_TIMEOUT_MS);
      try {
        const streams = Array.from({ length: STREAMS }, () => openStream(url, browser.cookie, ctrl.signal));
        await Promise.all(streams.map((s) => Promise.race([s.opened, s.approved])));

        // The service's callback, signed with the app's key as the outbox worker signs it.
        const body = {
          uuid: attempt.approval_uuid,
          status: 'approved',
          approval_request: { transaction: { hidden_details: { login_attempt: attempt.id } } },
        };
        const callbackUrl = `${system.platform.config.PUBLIC_URL}/authy/callback`;
        const nonce = String(Math.floor(Date.now() / 1000));
        const signature = signCallback({ apiKey: config.appApiKey, nonce, method: 'POST', url: callbackUrl, body });
        const t0 = performance.now();
        const res = await fetch(callbackUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-authy-signature': signature, 'x-authy-signature-nonce': nonce },
          body: JSON.stringify(body),
        });
        const t1 = performance.now();
        if (res.status !== 200) throw new Error(`callback: ${res.status} ${await res.text()}`);
        const heard = (await Promise.all(streams.map((s) => s.approved))).map((t) => t - t0).sort((a, b) => a - b);
        callbackMs.push(t1 - t0);
        first.push(heard[0]!);
        median.push(heard[Math.floor(heard.length / 2)]!);
        p95.push(heard[Math.min(heard.length - 1, Math.floor(heard.length * 0.95))]!);
        last.push(heard[heard.length - 1]!);
      } finally {
        clearTimeout(timer);
        ctrl.abort();
      }
    }
    console.log(`SSE fan-out (${system.platform.db.kind}): ${ROUNDS} approvals, ${STREAMS} waiting streams each; ms over rounds`);
    console.log(`  callback answered      ${pct(callbackMs)} ms`);
    console.log(`  first stream told      ${pct(first)} ms`);
    console.log(`  median stream told     ${pct(median)} ms`);
    console.log(`  95th pct stream told   ${pct(p95)} ms`);
    console.log(`  last (all ${STREAMS}) told     ${pct(last)} ms`);
  } finally {
    await stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
