// `npm run build:server`: bundles the server (src/cli.ts and everything it imports, with its
// packages) into dist/ with esbuild, then stamps the build. bin/twofold.js runs dist/ only while
// no file under src/ is newer than that stamp, which carries the time the build *started*: a file
// edited while esbuild ran makes the build stale, not current.
//
// Why a bundle and not tsc's one file per module: Node 20 loads an ES module graph one file at a
// time (a resolution, a read, a parse and a link each), and the server's graph with its packages
// is over 600 files. One bundle, split only where the code itself imports lazily (the CLI's other
// commands, the system), starts in about half the time. esbuild only strips the types:
// `npm run typecheck` checks them.
//
// Left out of the bundle, and loaded from node_modules at run time:
// - native addons (better-sqlite3, @node-rs/argon2);
// - packages loaded only when a setting asks for them or on first use (pg, ioredis, twilio,
//   web-push, qrcode, libphonenumber-js), so a start never parses them;
// - iconv-lite: the JSON body parser requires it at load, but its half-megabyte of character
//   set tables only for a body in a charset other than UTF-8, which Twofold never accepts.
// Files read at run time (web/dist, src/app/data) are found from the package root, not from the
// module's own path (src/platform/package-root.ts), so nothing is copied.
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..');
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
const next = join(dist, '.built.next');
writeFileSync(next, `${new Date().toISOString()}\n`);

try {
  await build({
    absWorkingDir: root,
    entryPoints: ['src/cli.ts'],
    outdir: dist,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // Whitespace and syntax only: names stay, so a stack trace in a log still reads.
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: true,
    logLevel: 'warning',
    external: ['better-sqlite3', '@node-rs/argon2', 'pg', 'ioredis', 'twilio', 'web-push', 'qrcode', 'libphonenumber-js', 'iconv-lite'],
    // CommonJS packages in an ES module bundle still call `require` for Node's built-in modules.
    banner: { js: "import { createRequire as __twofoldCreateRequire } from 'node:module'; const require = __twofoldCreateRequire(import.meta.url);" },
  });
} catch {
  // esbuild has printed the errors; dist/ has no stamp, so bin/twofold.js will not run it.
  console.error('build:server: esbuild failed, dist/ has no build');
  process.exit(1);
}
renameSync(next, join(dist, '.built'));
