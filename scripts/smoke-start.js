// `.ci/run`: the start production makes. Runs `twofold serve` from the compiled build in dist/
// (TWOFOLD_SOURCE=0: no tsx) on a free port with an empty DATA_DIR, waits for `GET /readyz` to
// answer 200 and the front end to be served, starts a signup (a password on the common list is
// refused, then a good one reaches the phone step: the code that loads files and packages on first
// use, outside the bundle), then stops it with SIGTERM and expects exit 0. The test suites run the
// sources through tsx; this is what checks the build itself.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const dataDir = mkdtempSync(join(tmpdir(), 'twofold-smoke-'));
const child = spawn(process.execPath, [join(root, 'bin/twofold.js'), 'serve'], {
  cwd: root,
  env: { PATH: process.env.PATH ?? '', TWOFOLD_SOURCE: '0', HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'info' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const t0 = performance.now();
let log = '';
try {
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" line in 30 s:\n${log}`)), 30_000);
    child.stdout.on('data', (chunk) => {
      log += chunk;
      const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`twofold serve exited (${code}):\n${log}`)));
  });
  const ready = await fetch(`${url}/readyz`);
  const page = await fetch(url, { headers: { accept: 'text/html' } });
  if (ready.status !== 200 || page.status !== 200) throw new Error(`/readyz ${ready.status}, / ${page.status}:\n${log}`);
  const signup = (password) =>
    fetch(`${url}/user`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: url },
      body: JSON.stringify({ fullName: 'Smoke Test', email: 'smoke@example.com', password, countryCode: '1', phone: '2015550123' }),
    });
  const weak = await signup('password123');
  const weakBody = await weak.text();
  if (weak.status !== 400 || !weakBody.includes('too common')) throw new Error(`a common password: ${weak.status} ${weakBody}\n${log}`);
  const good = await signup('smoke test passphrase 42');
  const goodBody = await good.text();
  if (good.status !== 202 || !goodBody.includes('verify_phone')) throw new Error(`signup: ${good.status} ${goodBody}\n${log}`);
  console.log(`smoke-start: the compiled build answered /readyz, / and a signup in ${Math.round(performance.now() - t0)} ms`);
} finally {
  const exited = new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', resolve)));
  child.kill('SIGTERM');
  const code = await exited;
  rmSync(dataDir, { recursive: true, force: true });
  if (code !== 0 && process.exitCode === undefined) {
    console.error(`smoke-start: twofold serve exited ${code} on SIGTERM`);
    process.exitCode = 1;
  }
}
