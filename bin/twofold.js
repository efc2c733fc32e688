#!/usr/bin/env node
// `twofold`: runs the compiled build in dist/ (`npm run build:server`; `npm start` builds it
// first). Where there is none yet (a fresh clone after `npm ci`), or it is older than a file
// under src/ (edited since the last build), it runs the TypeScript sources through tsx, a
// devDependency, so `npx twofold` never runs code older than the sources it sits beside.
// TWOFOLD_SOURCE=1 always runs the sources (the tests), TWOFOLD_SOURCE=0 always the build (the
// cold-start bench, production).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const stamp = join(root, 'dist', '.built');

/** The newest modification time under `dir` (files and directories: a deletion counts too). */
function newest(dir) {
  let t = statSync(dir).mtimeMs;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

function mtime(path) {
  return statSync(path, { throwIfNoEntry: false })?.mtimeMs;
}

/** 'build' or 'source', and why the sources when the build is there but older. */
function choose() {
  const mode = process.env.TWOFOLD_SOURCE;
  if (mode === '1') return { run: 'source' };
  const built = mtime(stamp);
  if (mode === '0') {
    if (built !== undefined) return { run: 'build' };
    process.stderr.write('twofold: TWOFOLD_SOURCE=0 but there is no build in dist/ (`npm run build:server` makes it)\n');
    process.exit(1);
  }
  if (built === undefined) return { run: 'source' };
  const sources = join(root, 'src');
  if (mtime(sources) === undefined || newest(sources) <= built) return { run: 'build' };
  return { run: 'source', stale: true };
}

async function tsx() {
  try {
    return await import('tsx/esm/api');
  } catch (e) {
    if (e?.code === 'ERR_MODULE_NOT_FOUND') return undefined;
    throw e;
  }
}

const choice = choose();
let cli;
if (choice.run === 'source') {
  const api = await tsx();
  if (api) {
    if (choice.stale) process.stderr.write('twofold: src/ changed since the last build; running the sources through tsx (`npm run build:server` compiles them)\n');
    api.register();
    cli = await import('../src/cli.ts');
  } else if (choice.stale) {
    process.stderr.write('twofold: src/ changed since the last build and tsx is not installed; running the build in dist/\n');
  } else {
    process.stderr.write('twofold: no build in dist/ and no tsx to run the sources: run `npm run build:server` (it needs the devDependencies)\n');
    process.exit(1);
  }
}
cli ??= await import('../dist/cli.js');
process.exitCode = await cli.main(process.argv.slice(2));
