/**
 * `npm run bench`: every metric in README.md "Performance", each bench in its own process (which starts and
 * stops the servers it measures, each in a process of its own), RUNS runs each. Prints a table
 * of medians (min, max), the ratios to the peer (better-auth) and the ceilings taken in the same
 * run, and whether each target is met; writes bench/results.json.
 *
 *   npm run bench                 all benches, 3 runs each (BENCH_RUNS to change)
 *   npm run bench -- push totp    only the benches whose names contain these words
 *                                 (results.json is then left alone)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { BENCH_DIR, fmt, median, RUNS, type Sample, type SuiteOutput } from './lib.js';

const BENCHES = ['push-approval', 'totp-verify', 'password-login', 'authy-verify', 'token-check-cost', 'waiting-browsers', 'cold-start'];
const BENCH_TIMEOUT_SECONDS = Number(process.env['BENCH_TIMEOUT_SECONDS'] ?? 300);

interface Stat {
  value: number;
  min: number;
  max: number;
  samples: number[];
}

interface Target {
  text: string;
  met: (m: MetricResult) => boolean;
}

interface MetricResult extends Stat {
  name: string;
  unit: string;
  runs: number;
  peer?: Stat & { name: string };
  ceiling?: Stat & { name: string };
  /** Twofold ÷ peer, per run, then the median of those. */
  peer_ratio?: Stat;
  /** Twofold ÷ ceiling, per run, then the median of those. */
  ceiling_ratio?: Stat;
  target?: { text: string; met: boolean };
}

const TARGETS: Record<string, Target> = {
  push_approval_p99_1000_pending: { text: 'p99 ≤ 25 ms', met: (m) => m.value <= 25 },
  totp_verify_throughput: { text: '≥ 10× better-auth', met: (m) => (m.peer_ratio?.value ?? 0) >= 10 },
  password_login_throughput: { text: '≥ 90 % of argon2id ceiling', met: (m) => (m.ceiling_ratio?.value ?? 0) >= 0.9 },
  authy_verify_token_throughput: { text: '≥ 50 % of Express hello-world', met: (m) => (m.ceiling_ratio?.value ?? 0) >= 0.5 },
  waiting_browsers_held: { text: '10,000 held', met: (m) => m.value >= 10_000 },
  waiting_browsers_rss_10000: { text: '≤ 300 MB', met: (m) => m.value <= 300 },
};

function stat(xs: number[]): Stat {
  return { value: median(xs), min: Math.min(...xs), max: Math.max(...xs), samples: xs };
}

function aggregate(out: SuiteOutput): MetricResult[] {
  const names = [...new Set(out.runs.flat().map((s) => s.name))];
  return names.map((name) => {
    const per = out.runs.map((r) => r.find((s) => s.name === name)).filter((s): s is Sample => s !== undefined);
    const first = per[0]!;
    const m: MetricResult = { name, unit: first.unit, runs: per.length, ...stat(per.map((s) => s.value)) };
    // Ratios of throughputs; a latency or a CPU cost is shown beside its reference instead.
    const rates = !first.unit.startsWith('ms');
    if (first.peer) {
      m.peer = { name: first.peer.name, ...stat(per.map((s) => s.peer!.value)) };
      if (rates) m.peer_ratio = stat(per.map((s) => s.value / s.peer!.value));
    }
    if (first.ceiling) {
      m.ceiling = { name: first.ceiling.name, ...stat(per.map((s) => s.ceiling!.value)) };
      if (rates) m.ceiling_ratio = stat(per.map((s) => s.value / s.ceiling!.value));
    }
    const t = TARGETS[name];
    if (t) m.target = { text: t.text, met: t.met(m) };
    return m;
  });
}

function runBench(name: string, outFile: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(BENCH_DIR, `${name}.ts`)], {
      stdio: 'inherit',
      env: { ...process.env, BENCH_OUT: outFile },
    });
    const forward = () => {
      interrupted = true;
      child.kill('SIGTERM');
    };
    process.once('SIGINT', forward);
    process.once('SIGTERM', forward);
    // Every bench is bounded: one that has not finished in BENCH_TIMEOUT_SECONDS is stopped
    // (its servers with it) and counted as failed.
    const limit = setTimeout(() => {
      console.error(`${name}: no result after ${BENCH_TIMEOUT_SECONDS} s, stopping it`);
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
    }, BENCH_TIMEOUT_SECONDS * 1000);
    child.on('error', () => resolve(1));
    child.on('exit', (code, signal) => {
      clearTimeout(limit);
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

/** Temporary directories of the servers (they remove their own; this catches a crashed one). */
function sweepTemp(since: number): void {
  for (const f of readdirSync(tmpdir())) {
    if (!/^(twofold-bench-|better-auth-bench-)/.test(f)) continue;
    const p = join(tmpdir(), f);
    try {
      if (statSync(p).ctimeMs >= since) rmSync(p, { recursive: true, force: true });
    } catch {
      /* already gone */
    }
  }
}

const pct = (r: number) => `${(r * 100).toFixed(0)} %`;

function row(m: MetricResult): string[] {
  const refs: string[] = [];
  const ratios: string[] = [];
  if (m.ceiling) {
    refs.push(`${m.ceiling.name}: ${fmt(m.ceiling.value)}`);
    // Memory is compared as a multiple of the ceiling's (a throughput as a share of it).
    if (m.ceiling_ratio) ratios.push(m.unit === 'MB' ? `${m.ceiling_ratio.value.toFixed(2)}× ceiling` : `${pct(m.ceiling_ratio.value)} of ceiling`);
  }
  if (m.peer) {
    refs.push(`${m.peer.name}: ${fmt(m.peer.value)}`);
    if (m.peer_ratio) ratios.push(`${m.peer_ratio.value.toFixed(2)}× peer`);
  }
  return [
    m.name,
    `${fmt(m.value)} ${m.unit}`,
    `${fmt(m.min)} – ${fmt(m.max)}`,
    String(m.runs),
    refs.join('; '),
    ratios.join('; '),
    m.target ? `${m.target.met ? 'met' : 'MISSED'} (${m.target.text})` : '',
  ];
}

function table(rows: string[][]): string {
  const head = ['metric', 'median', 'min – max', 'runs', 'peer / ceiling (median)', 'ratio (median of runs)', 'target'];
  const all = [head, ...rows];
  const w = head.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(w[i]!)).join('  ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

/** The same table in Markdown (BENCH_MARKDOWN=1), for the README. */
function markdown(rows: string[][]): string {
  const head = ['metric', 'median', 'min – max', 'runs', 'peer / ceiling (median)', 'ratio', 'target'];
  return [head, head.map(() => '---'), ...rows].map((r) => `| ${r.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`).join('\n');
}

const only = process.argv.slice(2);
const selected = BENCHES.filter((b) => only.length === 0 || only.some((o) => b.includes(o)));
const started = Date.now();
const loadAtStart = loadavg();
const t0 = performance.now();
const work = mkdtempSync(join(tmpdir(), 'twofold-bench-run-'));
const results: MetricResult[] = [];
const failed: string[] = [];
/** Set by Ctrl-C or SIGTERM: the bench under way stops its servers, and no other starts. */
let interrupted = false;
try {
  for (const name of selected) {
    if (interrupted) break;
    console.log(`\n=== ${name} (${name === 'cold-start' ? Math.max(5, RUNS) : RUNS} runs) ===`);
    const b0 = performance.now();
    const outFile = join(work, `${name}.json`);
    const code = await runBench(name, outFile);
    console.log(`--- ${name}: ${code === 0 ? 'done' : `FAILED (exit ${code})`} in ${((performance.now() - b0) / 1000).toFixed(1)} s`);
    if (code !== 0) {
      failed.push(name);
      continue;
    }
    const out = JSON.parse(readFileSync(outFile, 'utf8')) as SuiteOutput;
    results.push(...aggregate(out));
  }
} finally {
  rmSync(work, { recursive: true, force: true });
  sweepTemp(started);
}
const wallSeconds = (performance.now() - t0) / 1000;

console.log(`\n${table(results.map(row))}\n`);
if (process.env['BENCH_MARKDOWN']) console.log(`${markdown(results.map(row))}\n`);
console.log(`${selected.length - failed.length} of ${selected.length} benches completed in ${wallSeconds.toFixed(0)} s${failed.length ? `; FAILED: ${failed.join(', ')}` : ''} (load average ${loadAtStart[0]!.toFixed(1)} at start, ${loadavg()[0]!.toFixed(1)} at end)`);

if (only.length === 0 && failed.length === 0 && !interrupted) {
  const file = join(BENCH_DIR, 'results.json');
  // The load average says how busy the machine was with other work (the benches share it).
  const machine = {
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model ?? 'unknown',
    memory_gb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: process.platform,
    load_average_at_start: loadAtStart.map((l) => Math.round(l * 100) / 100),
    load_average_at_end: loadavg().map((l) => Math.round(l * 100) / 100),
  };
  writeFileSync(file, `${JSON.stringify({ generated_at: new Date(started).toISOString(), wall_seconds: Math.round(wallSeconds), machine, runs: RUNS, metrics: results }, null, 2)}\n`);
  console.log(`wrote ${file}`);
}
process.exitCode = failed.length ? 1 : 0;
