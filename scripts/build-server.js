// `npm run build:server`: compiles src/ to dist/ (tsconfig.build.json; `tsc -b` skips the work
// when nothing changed), copies src/'s other files (data read relative to a module, like
// app/data/common-passwords.txt) beside the compiled ones, and stamps the build. bin/twofold.js
// runs dist/ only while no file under src/ is newer than that stamp, which carries the time the
// build *started*: a file edited while tsc ran makes the build stale, not current.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const src = join(root, 'src');
const dist = join(root, 'dist');
mkdirSync(dist, { recursive: true });
const next = join(dist, '.built.next');
writeFileSync(next, `${new Date().toISOString()}\n`);
rmSync(join(dist, '.built'), { force: true });

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
try {
  execFileSync(process.execPath, [tsc, '-b', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
} catch {
  // tsc has printed the errors; with noEmitOnError nothing was written, and dist/ has no stamp.
  console.error('build:server: tsc failed, dist/ not updated');
  process.exit(1);
}

for (const e of readdirSync(src, { recursive: true, withFileTypes: true })) {
  if (!e.isFile() || e.name.endsWith('.ts')) continue;
  const from = join(e.parentPath, e.name);
  cpSync(from, join(dist, relative(src, from)));
}
renameSync(next, join(dist, '.built'));
