/**
 * What the benches share: child processes for the systems under test (each with its own
 * temporary data, stopped and cleaned by `stop`), a load generator (autocannon, in the bench's
 * own process, so load and server never share a process), status streams, percentiles, and the
 * per-run result format that `run.ts` aggregates.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { SseParser } from '../src/protocol/sse.js';

export const BENCH_DIR = import.meta.dirname;
export const ROOT_DIR = join(BENCH_DIR, '..');

/**
 * Limits the push and login benches raise: they log in from one client IP to a few accounts
 * many times a second, which the defaults rightly refuse.
 */
export const PUSH_BENCH_ENV = {
  PUSH_PER_USER_LIMIT: '1000000',
  LOGIN_PER_ACCOUNT_LIMIT: '1000000',
  LOGIN_PER_IP_LIMIT: '1000000',
  // Every signup texts a phone code from one address.
  SMS_PER_IP_LIMIT: '1000000',
};

/** Runs per metric (BENCH_RUNS, default 3). */
export const RUNS = Math.max(1, Number(process.env['BENCH_RUNS'] ?? 3));

// ---------------------------------------------------------------- results

/** A compared value measured in the same run: the peer's (better-auth) or a physical ceiling. */
export interface Reference {
  name: string;
  value: number;
}

/** One metric's value in one run. */
export interface Sample {
  name: string;
  unit: string;
  value: number;
  peer?: Reference;
  ceiling?: Reference;
}

/** What a bench process hands `run.ts`: every run's samples. */
export interface SuiteOutput {
  suite: string;
  runs: Sample[][];
}

/**
 * Run `one` RUNS times (`runs` overrides), each a fresh set of processes, and write every run's
 * samples to BENCH_OUT (when run by `run.ts`) and a summary line per run to stdout.
 */
export async function suite(name: string, one: (run: number) => Promise<Sample[]>, runs = RUNS): Promise<void> {
  const out: SuiteOutput = { suite: name, runs: [] };
  try {
    for (let run = 1; run <= runs; run++) {
      const t0 = performance.now();
      const samples = await one(run);
      out.runs.push(samples);
      const line = samples.map((s) => `${s.name} ${fmt(s.value)} ${s.unit}${s.peer ? ` (${s.peer.name} ${fmt(s.peer.value)})` : ''}${s.ceiling ? ` (${s.ceiling.name} ${fmt(s.ceiling.value)})` : ''}`);
      console.log(`  [${name}] run ${run}/${runs} in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${line.join('; ')}`);
    }
  } finally {
    await stopAllChildren();
  }
  const file = process.env['BENCH_OUT'];
  if (file) writeFileSync(file, JSON.stringify(out));
}

export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a >= 1000 ? v.toFixed(0) : a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
}

// ---------------------------------------------------------------- statistics

export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  // Nearest rank: the smallest value with at least q of the samples at or below it.
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

export const median = (xs: readonly number[]) => quantile(xs, 0.5);

// ---------------------------------------------------------------- child processes

export interface Child {
  readonly pid: number;
  readonly url: string;
  /** A request to the child over IPC; rejects with the child's error. */
  call<T>(cmd: string, args?: unknown): Promise<T>;
  /** Resident set size of the child's process, in bytes (from /proc). */
  rss(): number;
  /** CPU time the child's process has used, in milliseconds. */
  cpuMs(): number;
  /** Ask the child to stop (it cleans its own temp data), SIGKILL after 10 s. */
  stop(): Promise<void>;
}

const children = new Set<Child>();
const cleanups = new Set<() => void>();

/** Run `fn` if this process is stopped (Ctrl-C, SIGTERM) before it calls the returned remover. */
export function onStop(fn: () => void): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

/** Stop every child this process started (also on the way out after an error). */
export async function stopAllChildren(): Promise<void> {
  for (const fn of [...cleanups]) fn();
  cleanups.clear();
  await Promise.all([...children].map((c) => c.stop()));
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void stopAllChildren().finally(() => process.exit(130));
  });
}

interface ChildMessage {
  type: 'ready' | 'reply';
  url?: string;
  id?: number;
  ok?: boolean;
  result?: unknown;
  error?: string;
}

/**
 * Start `bench/<script>` in its own Node process (`--import tsx`) with an IPC channel. The
 * script sends `{ type: 'ready', url }` once it listens and answers `{ id, cmd, args }` messages
 * (see `serveChild`).
 */
export function startChild(script: string, env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<Child> {
  const proc: ChildProcess = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', join(BENCH_DIR, script)], {
    cwd: ROOT_DIR,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let exited = false;
  const exit = new Promise<void>((r) => proc.once('exit', () => r()));
  return new Promise<Child>((resolve, reject) => {
    const startTimer = setTimeout(() => reject(new Error(`${script} did not start in 60 s`)), 60_000);
    proc.once('exit', (code, signal) => {
      exited = true;
      clearTimeout(startTimer);
      reject(new Error(`${script} exited before it was ready (${code ?? signal})`));
      for (const p of pending.values()) p.reject(new Error(`${script} exited (${code ?? signal})`));
      pending.clear();
    });
    proc.on('message', (raw) => {
      const m = raw as ChildMessage;
      if (m.type === 'ready' && m.url) {
        clearTimeout(startTimer);
        const child: Child = {
          pid: proc.pid!,
          url: m.url,
          call<T>(cmd: string, args?: unknown): Promise<T> {
            if (exited) return Promise.reject(new Error(`${script} has exited`));
            const id = nextId++;
            return new Promise<T>((res, rej) => {
              pending.set(id, { resolve: res as (v: unknown) => void, reject: rej });
              proc.send({ id, cmd, args });
            });
          },
          rss: () => rssOf(proc.pid!),
          cpuMs: () => cpuMsOf(proc.pid!),
          async stop() {
            children.delete(child);
            if (exited) return;
            proc.send({ id: 0, cmd: 'stop' });
            const killer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
            await exit;
            clearTimeout(killer);
          },
        };
        children.add(child);
        resolve(child);
      } else if (m.type === 'reply' && m.id !== undefined) {
        const p = pending.get(m.id);
        pending.delete(m.id);
        if (m.ok) p?.resolve(m.result);
        else p?.reject(new Error(m.error ?? 'child call failed'));
      }
    });
  });
}

/**
 * The child side of `startChild`: announce `url`, answer commands with `handlers`, and on
 * `stop` (or a lost parent) run `stop` and exit.
 */
export function serveChild(url: string, handlers: Record<string, (args: unknown) => Promise<unknown>>, stop: () => Promise<void>): void {
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    try {
      await stop();
    } finally {
      process.exit(0);
    }
  };
  process.on('message', (raw) => {
    const m = raw as { id: number; cmd: string; args?: unknown };
    if (m.cmd === 'stop') return void shutdown();
    const h = handlers[m.cmd];
    const reply = (r: Omit<ChildMessage, 'type'>) => process.send?.({ type: 'reply', id: m.id, ...r });
    if (!h) return reply({ ok: false, error: `unknown command ${m.cmd}` });
    h(m.args).then(
      (result) => reply({ ok: true, result }),
      (e: unknown) => reply({ ok: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
    );
  });
  // Every child answers for its memory: usage, V8's heap spaces, a full GC (with --expose-gc) and
  // a heap snapshot written to a file.
  handlers['memory'] ??= async () => process.memoryUsage();
  handlers['heapSpaces'] ??= async () => (await import('node:v8')).getHeapSpaceStatistics();
  handlers['gc'] ??= async () => {
    (globalThis as { gc?: () => void }).gc?.();
  };
  handlers['heap'] ??= async (args) => {
    (await import('node:v8')).writeHeapSnapshot((args as { file: string }).file);
  };
  // BENCH_CPU_PROF=<dir>: `profile` brackets the measured part of a run (see `profiled`).
  let session: Session | undefined;
  handlers['profileStart'] ??= async () => {
    session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  };
  handlers['profileStop'] ??= async (args) => {
    const { profile } = await session!.post('Profiler.stop');
    writeFileSync((args as { file: string }).file, JSON.stringify(profile));
    session!.disconnect();
  };
  // Sampled allocations (V8's sampling heap profiler, a .heapprofile for Chrome DevTools), also
  // of objects a GC has freed since: `includeCollected` 'major' keeps those that died in the old
  // generation (promoted garbage, what fragments the heap), 'all' those of the young one too.
  let heapSession: Session | undefined;
  handlers['heapSampleStart'] ??= async (args) => {
    const { includeCollected } = (args ?? {}) as { includeCollected?: 'major' | 'all' };
    heapSession = new Session();
    heapSession.connect();
    await heapSession.post('HeapProfiler.enable');
    await heapSession.post('HeapProfiler.startSampling', {
      samplingInterval: 4096,
      // Both options are in Node 20's V8 but not in its inspector typings.
      ...(includeCollected ? { includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: includeCollected === 'all' } : {}),
    } as never);
  };
  handlers['heapSampleStop'] ??= async (args) => {
    const { profile } = await heapSession!.post('HeapProfiler.stopSampling');
    writeFileSync((args as { file: string }).file, JSON.stringify(profile));
    heapSession!.disconnect();
    heapSession = undefined;
  };
  process.on('disconnect', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
  process.send?.({ type: 'ready', url });
}

/**
 * Run `fn`; with BENCH_CPU_PROF=<dir> set, `child` records a V8 CPU profile meanwhile, written
 * to <dir>/<label>-<pid>.cpuprofile (open it in Chrome DevTools or speedscope).
 */
export async function profiled<T>(child: Child, label: string, fn: () => Promise<T>): Promise<T> {
  const dir = process.env['BENCH_CPU_PROF'];
  if (!dir) return fn();
  await child.call('profileStart');
  try {
    return await fn();
  } finally {
    await child.call('profileStop', { file: join(dir, `${label}-${child.pid}.cpuprofile`) });
  }
}

/** CPU time (user + system) a process has used so far, in milliseconds (from /proc, 10 ms ticks). */
export function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

/** VmRSS of a process, in bytes. */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

// ---------------------------------------------------------------- load

export interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface LoadResult {
  /** Responses with the expected status. */
  ok: number;
  /** Everything else: other statuses, errors, timeouts. */
  failed: number;
  seconds: number;
  /** ok / seconds */
  rps: number;
  p50: number;
  p99: number;
  /** CPU time the server process spent per answered request, in ms (with `server`). */
  cpuMsPerRequest: number;
}

/**
 * autocannon against `url` with `connections` connections. With `requests`, each request is
 * the next prepared one (each used once; the run ends when they are used up or after
 * `maxSeconds`; with `seconds`, they are cycled for that long); with `request`, the same
 * request repeats for `seconds`.
 */
export async function load(o: {
  url: string;
  /** The server's process, to count its CPU time. */
  server?: Child;
  connections: number;
  expectStatus?: number;
  requests?: readonly LoadRequest[];
  request?: LoadRequest;
  seconds?: number;
  maxSeconds?: number;
}): Promise<LoadResult> {
  const expect = o.expectStatus ?? 200;
  let next = 0;
  // autocannon notices that `amount` requests are done only at its next one-second tick, so a
  // run's length is taken from the last answer instead (else every rate is rounded down).
  let lastAnswerAt = 0;
  const list = o.requests;
  const base: autocannon.Options = {
    url: o.url,
    connections: o.connections,
    timeout: 20,
  };
  let opts: autocannon.Options;
  if (list) {
    opts = {
      ...base,
      // Each prepared request once, or (with `seconds`) round and round for that long.
      ...(o.seconds ? { duration: o.seconds } : { amount: list.length }),
      requests: [
        {
          setupRequest: (req) => {
            const r = list[next++ % list.length]!;
            return { ...req, method: r.method, path: r.path, headers: r.headers, ...(r.body !== undefined ? { body: r.body } : {}) };
          },
          onResponse: () => {
            lastAnswerAt = performance.now();
          },
        },
      ],
    };
  } else if (o.request) {
    const r = o.request;
    opts = { ...base, url: o.url + r.path, duration: o.seconds ?? 5, method: r.method, headers: r.headers, ...(r.body !== undefined ? { body: r.body } : {}) };
  } else throw new Error('load: requests or request');
  const t0 = performance.now();
  const cpu0 = o.server?.cpuMs() ?? 0;
  let cap: NodeJS.Timeout | undefined;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(opts, (err: unknown, r: autocannon.Result) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(r)));
    if (list && !o.seconds) cap = setTimeout(() => instance.stop(), (o.maxSeconds ?? 30) * 1000);
  });
  clearTimeout(cap);
  const seconds = ((list && !o.seconds && lastAnswerAt > 0 ? lastAnswerAt : performance.now()) - t0) / 1000;
  const cpuMs = o.server ? o.server.cpuMs() - cpu0 : NaN;
  const ok = result.statusCodeStats?.[String(expect) as `${number}`]?.count ?? 0;
  const total = Object.values(result.statusCodeStats ?? {}).reduce((n, s) => n + (s.count ?? 0), 0);
  return { ok, failed: total - ok + result.errors, seconds, rps: ok / seconds, p50: result.latency.p50, p99: result.latency.p99, cpuMsPerRequest: cpuMs / Math.max(1, total) };
}

/** Throws when a load run had failures: a throughput of refusals would be meaningless. */
export function requireClean(what: string, r: LoadResult): LoadResult {
  if (r.failed > 0) throw new Error(`${what}: ${r.failed} of ${r.ok + r.failed} requests failed`);
  return r;
}

// ---------------------------------------------------------------- status streams

export interface StatusStream {
  /** Resolves at the first `status` event (the browser is now waiting). */
  opened: Promise<void>;
  /** Resolves with performance.now() when an `approved` status arrives. */
  approved: Promise<number>;
  close(): void;
}

/** Agent without pooling limits: every stream holds its own socket, as every browser tab would. */
export const streamAgent = new http.Agent({ keepAlive: false, maxSockets: Infinity });

/** `GET /authy/status` as a waiting browser's EventSource: one socket, parsed as it arrives. */
export function openStatusStream(base: string, cookie: string): StatusStream {
  let resolveOpened!: () => void;
  let rejectOpened!: (e: Error) => void;
  let resolveApproved!: (t: number) => void;
  let rejectApproved!: (e: Error) => void;
  const opened = new Promise<void>((res, rej) => ((resolveOpened = res), (rejectOpened = rej)));
  const approved = new Promise<number>((res, rej) => ((resolveApproved = res), (rejectApproved = rej)));
  approved.catch(() => {});
  opened.catch(() => {});
  const fail = (e: Error) => {
    rejectOpened(e);
    rejectApproved(e);
  };
  const req = http.get(`${base}/authy/status`, { agent: streamAgent, headers: { accept: 'text/event-stream', cookie } }, (res) => {
    if (res.statusCode !== 200) {
      fail(new Error(`status stream: ${res.statusCode}`));
      res.resume();
      return;
    }
    res.setEncoding('utf8');
    const parser = new SseParser();
    res.on('data', (chunk: string) => {
      for (const m of parser.push(chunk)) {
        if (m.event !== 'status') continue;
        const { status } = JSON.parse(m.data) as { status: string };
        if (status === 'pending') resolveOpened();
        else if (status === 'approved') {
          resolveApproved(performance.now());
          resolveOpened();
        }
      }
    });
    res.on('end', () => fail(new Error('status stream ended')));
    res.on('error', fail);
  });
  req.on('error', fail);
  return { opened, approved, close: () => req.destroy() };
}

/** Run `fn` over `items` with at most `n` in flight. */
export async function pool<T>(items: readonly T[], n: number, fn: (x: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
