import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { TestProject } from 'vitest/node';

export const TEST_PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Decide once whether PostgreSQL is reachable. Locally an unreachable server skips the PostgreSQL
 * half of each suite with a message; on CI (CI=true) it fails the run, since there it must run.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let available = false;
  let reason = '';
  const client = new pg.Client({ connectionString: TEST_PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    available = true;
  } catch (e) {
    reason = (e as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
  if (!available) {
    const msg = `PostgreSQL at ${TEST_PG_URL} is unreachable (${reason}): the PostgreSQL half of every storage suite is SKIPPED.`;
    if (process.env.CI === 'true') throw new Error(`${msg} CI requires it.`);
    console.warn(`\n*** ${msg}\n`);
  }
  // Several runs may share the server (engineers, CI jobs): each run names its schemas with its
  // own prefix and drops only those, never another run's schemas while it is using them.
  const prefix = `tf_test_${randomBytes(3).toString('hex')}_`;
  project.provide('pgAvailable', available);
  project.provide('pgUrl', TEST_PG_URL);
  project.provide('pgSchemaPrefix', prefix);
  return async () => {
    // Drop the schemas the run created.
    if (!available) return;
    const c = new pg.Client({ connectionString: TEST_PG_URL });
    await c.connect();
    const { rows } = await c.query<{ nspname: string }>('select nspname from pg_namespace where starts_with(nspname, $1)', [prefix]);
    for (const r of rows) await c.query(`drop schema if exists ${r.nspname} cascade`);
    await c.end();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgAvailable: boolean;
    pgUrl: string;
    pgSchemaPrefix: string;
  }
}
