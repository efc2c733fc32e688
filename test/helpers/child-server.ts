import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import pg from 'pg';
import { pgUrl } from './databases.js';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * Environment that makes `bin/twofold.js` run the TypeScript sources (through tsx) rather than a
 * build in dist/: a child server always runs the code under test, whatever dist/ holds.
 */
export const RUN_SOURCES = { TWOFOLD_SOURCE: '1' } as const;

/** `twofold serve` in a child process, so a test can SIGKILL it like a crash would. */
export interface ChildServer {
  child: ChildProcess;
  url: string;
  output: () => string;
}

export function serveChild(env: Record<string, string>, args: string[] = []): Promise<ChildServer> {
  const child = spawn(process.execPath, ['bin/twofold.js', 'serve', ...args], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', NODE_ENV: 'test', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env, ...RUN_SOURCES },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolvePromise({ child, url: m[1]!, output: () => out });
      }
    });
    child.stderr!.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${out}`));
    });
  });
}

/** SIGKILL: no shutdown hooks, no flush — what a power cut or OOM kill does. */
export function killChild(s: ChildServer): Promise<void> {
  return new Promise((r) => {
    if (s.child.exitCode !== null || s.child.signalCode !== null) return r();
    s.child.once('exit', () => r());
    s.child.kill('SIGKILL');
  });
}

/** A fresh PostgreSQL database (a child process cannot be given a schema); returns its URL and a dropper. */
export async function freshPgDatabase(prefix = 'tf_child'): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const admin = async (q: string) => {
    const c = new pg.Client({ connectionString: pgUrl() });
    await c.connect();
    try {
      await c.query(q);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const u = new URL(pgUrl());
  u.pathname = `/${name}`;
  return { url: u.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/** A port free right now on 127.0.0.1 (for a server that must come back at the same address). */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => done(port));
    });
  });
}
