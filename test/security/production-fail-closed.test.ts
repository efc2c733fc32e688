// Threat: a production process that quietly makes up what it was not given — an encryption key
// in a working directory (lost or copied with it), a SQLite file where PostgreSQL was meant — and
// runs on it, so a deployment mistake becomes lost or readable data instead of a refusal.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/platform/config.js';
import { RUN_SOURCES } from '../helpers/child-server.js';
import { productionSecrets } from '../helpers/system.js';

const SECRETS = productionSecrets();
const without = (...names: string[]) => Object.fromEntries(Object.entries(SECRETS).filter(([k]) => !names.includes(k)));
const dir = () => mkdtempSync(join(tmpdir(), 'twofold-prod-'));

describe('production fails closed', () => {
  it('when NODE_ENV=production has no database or secret set then the configuration is refused, naming each', () => {
    const d = dir();
    expect(() => loadConfig({ NODE_ENV: 'production', DATA_DIR: d })).toThrow(ConfigError);
    expect(() => loadConfig({ NODE_ENV: 'production', DATA_DIR: d })).toThrow(/DATABASE_URL[\s\S]*ENCRYPTION_KEY[\s\S]*VERIFY_API_KEY[\s\S]*VAPID_PRIVATE_KEY/);
    // Nothing was generated on the way to the refusal.
    expect(readdirSync(d)).toEqual([]);
  });

  it('when only one of them is missing then the refusal names that one alone', () => {
    const d = dir();
    const db = { DATABASE_URL: 'postgres://db.internal/twofold' };
    expect(() => loadConfig({ NODE_ENV: 'production', DATA_DIR: d, ...SECRETS })).toThrow(/^Invalid configuration:\n {2}DATABASE_URL: required[^\n]*$/);
    for (const name of ['ENCRYPTION_KEY', 'VERIFY_API_KEY']) {
      expect(() => loadConfig({ NODE_ENV: 'production', DATA_DIR: d, ...db, ...without(name) })).toThrow(new RegExp(`^Invalid configuration:\\n {2}${name}: required[^\\n]*$`));
    }
    expect(() => loadConfig({ NODE_ENV: 'production', DATA_DIR: d, ...db, ...without('VAPID_PUBLIC_KEY', 'VAPID_PRIVATE_KEY') })).toThrow(/VAPID_PRIVATE_KEY: required/);
    expect(readdirSync(d)).toEqual([]);
  });

  it('when a web app alone runs in production then it needs no VAPID keys and writes none', () => {
    const d = dir();
    const c = loadConfig({ NODE_ENV: 'production', DATA_DIR: d, DATABASE_URL: 'postgres://db.internal/twofold', ...without('VAPID_PUBLIC_KEY', 'VAPID_PRIVATE_KEY') }, { role: 'app' });
    expect(c.generatedSecrets).toEqual([]);
    expect(readdirSync(d)).toEqual([]);
  });

  it('when a single host names its SQLite file then production starts on that file', () => {
    const d = dir();
    const c = loadConfig({ NODE_ENV: 'production', DATA_DIR: d, ...SECRETS, DATABASE_URL: `sqlite:${join(d, 'prod.sqlite')}` });
    expect(c.sqliteFile).toBe(join(d, 'prod.sqlite'));
    expect(c.DATABASE_URL).toBeUndefined();
    // Outside production the default file stays DATA_DIR/twofold.sqlite.
    expect(loadConfig({ DATA_DIR: d }).sqliteFile).toBe(join(resolve(d), 'twofold.sqlite'));
  });

  it('when `twofold serve` starts in production without an encryption key then it exits 2 naming it, and creates no key or database', () => {
    const d = dir();
    const r = spawnSync(process.execPath, ['bin/twofold.js', 'serve'], {
      env: { PATH: process.env['PATH'] ?? '', NODE_ENV: 'production', DATA_DIR: d, DATABASE_URL: `sqlite:${join(d, 'twofold.sqlite')}`, PORT: '0', LOG_LEVEL: 'silent', ...without('ENCRYPTION_KEY'), ...RUN_SOURCES },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/ENCRYPTION_KEY: required when NODE_ENV=production/);
    expect(existsSync(join(d, 'secrets.json'))).toBe(false);
    expect(existsSync(join(d, 'twofold.sqlite'))).toBe(false);
  });
});
