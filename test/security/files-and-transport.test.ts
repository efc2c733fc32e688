// Threat: the SQLite database (password hashes, sealed secrets, session hashes) readable by other
// users of the host; and a production site reached over plain http, where a network attacker reads
// or rewrites it.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUp, Browser, newUser } from '../app/helpers.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

describe('the SQLite files', () => {
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem({});
    await signUp(new Browser(t.url), newUser());
  });
  afterAll(() => t?.stop());

  it.each(['twofold.sqlite', 'twofold.sqlite-wal', 'twofold.sqlite-shm'])('when the database has been written then %s is readable by its owner only (0600)', (name) => {
    expect(statSync(join(t.dataDir, name)).mode & 0o777).toBe(0o600);
  });
});

describe('Strict-Transport-Security', () => {
  let prod: TestSystem;
  let dev: TestSystem;
  beforeAll(async () => {
    prod = await startTestSystem({ env: { NODE_ENV: 'production', PUBLIC_URL: 'https://twofold.example' } });
    dev = await startTestSystem({});
  });
  afterAll(async () => {
    await prod?.stop();
    await dev?.stop();
  });

  it('when the process runs in production then every answer asks browsers to use https for a year', async () => {
    for (const path of ['/', '/healthz', '/protected/json/app/details']) {
      const r = await fetch(`${prod.url}${path}`);
      expect(r.headers.get('strict-transport-security'), path).toBe('max-age=31536000; includeSubDomains');
    }
  });

  it('when the process runs in development (plain http on localhost) then it does not', async () => {
    expect((await fetch(`${dev.url}/healthz`)).headers.get('strict-transport-security')).toBeNull();
  });
});
