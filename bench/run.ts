/**
 * `npm run bench`: every bench/*.ts except this one, in name order, one after another, each in
 * its own process (`node --import tsx`), so one bench's warm caches, pools and timers never
 * colour the next one's numbers. Their output goes straight through; exits non-zero when any failed.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';

const dir = import.meta.dirname;
const self = basename(import.meta.filename);
const only = process.argv.slice(2);
const benches = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && f !== self && f !== 'lib.ts' && !f.endsWith('.d.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

function runOne(file: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(dir, file)], { stdio: 'inherit', env: process.env });
    child.on('error', () => resolve(1));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const failed: string[] = [];
for (const file of benches) {
  console.log(`\n=== ${file} ===`);
  const t0 = performance.now();
  const code = await runOne(file);
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(`--- ${file}: ${code === 0 ? 'done' : `FAILED (exit ${code})`} in ${seconds} s`);
  if (code !== 0) failed.push(file);
}
console.log(`\n${benches.length - failed.length} of ${benches.length} benches completed${failed.length ? `; failed: ${failed.join(', ')}` : ''}`);
process.exitCode = failed.length ? 1 : 0;
