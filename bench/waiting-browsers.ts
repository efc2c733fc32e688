/**
 * Metric 5, waiting browsers: how many status streams (`GET /authy/status`, SSE, one socket
 * each, as many browser tabs waiting for a push approval) one app instance holds, and its
 * resident memory (RSS, from /proc) with 1,000 and with 10,000 open. Each stream belongs to a
 * login of its own (a half session whose attempt waits for an approval), prepared beforehand.
 * A stream counts as held when it has told its browser "pending" and is still open
 * HOLD_SECONDS later. Also reported: the RSS of the fresh server (idle) and once the 10,000
 * logins are in its database (0 streams).
 *
 * The ceiling, in the same run after Twofold has stopped: a bare `node:http` server
 * (servers/sse-ceiling.ts) holding the same number of streams, opened by the same client the
 * same way, its RSS taken the same way (idle, then HOLD_SECONDS after the last opened).
 *
 * BENCH_HEAP_SNAPSHOT=<dir> also writes V8 heap snapshots of both servers (after a full GC) with
 * 0 and with all streams open: <dir>/<server>-<streams>-run<run>.heapsnapshot (open them in
 * Chrome DevTools, Memory tab, and compare by constructor). BENCH_HEAP_SAMPLE=<dir> writes what
 * each server allocated while its streams opened, sampled, with what a full GC has freed since
 * (<dir>/<server>-run<run>.heapprofile: what was promoted and died in the old generation
 * fragments it). Either takes time and memory of its own: the RSS figures of such a run are not
 * comparable with the others.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { openStatusStream, pool, sleep, startChild, suite, type Child, type Sample, type StatusStream } from './lib.js';

const TARGET = Number(process.env['BENCH_STREAMS'] ?? 10_000);
const FIRST = 1000;
const OPEN_CONCURRENCY = 64;
const HOLD_SECONDS = 2;
const MB = 1024 * 1024;
const SNAPSHOTS = process.env['BENCH_HEAP_SNAPSHOT'];
const SAMPLES = process.env['BENCH_HEAP_SAMPLE'];

/** Open a status stream for each cookie (at most OPEN_CONCURRENCY opening at once). */
function opener(url: string, streams: StatusStream[], onEnded: () => void) {
  return async (cookies: readonly string[]) => {
    await pool(cookies, OPEN_CONCURRENCY, async (cookie) => {
      const st = openStatusStream(url, cookie);
      st.approved.catch(onEnded);
      streams.push(st);
      await st.opened;
    });
  };
}

/** With BENCH_HEAP_SNAPSHOT: a full GC, then a heap snapshot of `child`. */
async function snapshot(child: Child, name: string): Promise<void> {
  if (!SNAPSHOTS) return;
  mkdirSync(SNAPSHOTS, { recursive: true });
  await child.call('gc');
  await child.call('heap', { file: join(SNAPSHOTS, `${name}.heapsnapshot`) });
}

/** With BENCH_HEAP_SAMPLE: sample `child`'s allocations while `fn` runs. */
async function sampled(child: Child, name: string, fn: () => Promise<void>): Promise<void> {
  if (!SAMPLES) return fn();
  mkdirSync(SAMPLES, { recursive: true });
  await child.call('heapSampleStart', { includeCollected: 'major' });
  await fn();
  await child.call('heapSampleStop', { file: join(SAMPLES, `${name}.heapprofile`) });
}

const gcFlag = SNAPSHOTS ? ['--expose-gc'] : [];

async function twofold(run: number): Promise<Sample[]> {
  const s = await startChild('servers/twofold.ts', {}, gcFlag);
  const streams: StatusStream[] = [];
  let ended = 0;
  try {
    await sleep(1000);
    const rssIdle = s.rss() / MB;
    const cookies = await s.call<string[]>('seedWaitingLogins', { count: TARGET });
    await sleep(1000);
    const rss0 = s.rss() / MB;
    await snapshot(s, `twofold-0-run${run}`);
    const open = opener(s.url, streams, () => ended++);
    let rss1000 = 0;
    let rssAll = 0;
    await sampled(s, `twofold-run${run}`, async () => {
      await open(cookies.slice(0, FIRST));
      await sleep(1000);
      rss1000 = s.rss() / MB;
      await open(cookies.slice(FIRST, TARGET));
      await sleep(HOLD_SECONDS * 1000);
      rssAll = s.rss() / MB;
    });
    const held = streams.length - ended;
    await snapshot(s, `twofold-${TARGET}-run${run}`);
    return [
      { name: 'waiting_browsers_held', unit: 'streams', value: held },
      { name: 'waiting_browsers_rss_idle', unit: 'MB', value: rssIdle },
      { name: 'waiting_browsers_rss_0', unit: 'MB', value: rss0 },
      { name: 'waiting_browsers_rss_1000', unit: 'MB', value: rss1000 },
      { name: `waiting_browsers_rss_${TARGET}`, unit: 'MB', value: rssAll },
    ];
  } finally {
    for (const st of streams) st.close();
    await s.stop();
  }
}

/** The bare `node:http` server with the same streams: its RSS idle and with TARGET open. */
async function ceiling(run: number): Promise<{ idle: number; all: number; held: number }> {
  const s = await startChild('servers/sse-ceiling.ts', {}, gcFlag);
  const streams: StatusStream[] = [];
  let ended = 0;
  try {
    await sleep(1000);
    const idle = s.rss() / MB;
    await snapshot(s, `ceiling-0-run${run}`);
    // The ceiling reads no cookie; each stream still sends one of the same length.
    const cookie = `__Host-twofold=${'A'.repeat(43)}`;
    let all = 0;
    await sampled(s, `ceiling-run${run}`, async () => {
      await opener(s.url, streams, () => ended++)(Array.from({ length: TARGET }, () => cookie));
      await sleep(HOLD_SECONDS * 1000);
      all = s.rss() / MB;
    });
    const held = streams.length - ended;
    await snapshot(s, `ceiling-${TARGET}-run${run}`);
    return { idle, all, held };
  } finally {
    for (const st of streams) st.close();
    await s.stop();
  }
}

await suite('waiting-browsers', async (run) => {
  const samples = await twofold(run);
  // One server at a time: Twofold has stopped (and its streams closed) before the ceiling starts.
  const c = await ceiling(run);
  if (c.held !== TARGET) throw new Error(`the ceiling held ${c.held} of ${TARGET} streams`);
  const name = `waiting_browsers_rss_${TARGET}`;
  const tf = samples.find((x) => x.name === name)!;
  tf.ceiling = { name: 'bare node:http SSE', value: c.all };
  return [
    ...samples,
    { name: 'waiting_browsers_rss_ceiling_idle', unit: 'MB', value: c.idle },
    { name: `waiting_browsers_rss_ceiling_${TARGET}`, unit: 'MB', value: c.all },
  ];
});
