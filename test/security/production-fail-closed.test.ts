// Threat: a production process that quietly makes up what it was not given — an encryption key
// in a working directory (lost or copied with it), a SQLite file where PostgreSQL was meant — and
// runs on it, so a deployment mistake becomes lost or readable data instead of a refusal.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/platform/config.js';

const KEY = Buffer.alloc(32, 7).toString('base64');
const dir = () => mkdtempSync(join(tmpdir(), 'twofold-prod-'));

describe('production fails closed', () => {
  it('when NODE_ENV=production has neither DATABASE_URL nor ENCRYPTION_KEY then the configuration is refused, naming both', () => {
    const d = dir();
    expect(() => loadConfig({ NODE_ENV: 'production', DATA_DIR: d })).toThrow(ConfigError);
    expect(() => loadConfig({ NODE_ENV: 'production', DATA_DIR: d })).toThrow(/DATABASE_URL[\s\S]*ENCRYPTION_KEY/);
    // Nothing was generated on the way to the refusal.
    expect(readdirSync(d)).toEqual([]);
  });

  it('when only one of them is missing then the refusal names that one', () => {
    const d = dir();
    expect(() => loadConfig({ NODE_ENV: 'production', DATA_DIR: d, ENCRYPTION_KEY: KEY })).toThrow(/DATABASE_URL: required/);
    expect(() => loadConfig({ NODE_ENV: 'production', DATA_DIR: d, DATABASE_URL: 'postgres://db.internal/twofold' })).toThrow(/ENCRYPTION_KEY: required/);
    expect(() => loadConfig({ NODE_ENV: 'production', DATA_DIR: d, DATABASE_URL: 'postgres://db.internal/twofold' })).not.toThrow(/DATABASE_URL/);
  });

  it('when a single host names its SQLite file then production starts on that file', () => {
    const d = dir();
    const c = loadConfig({ NODE_ENV: 'production', DATA_DIR: d, ENCRYPTION_KEY: KEY, DATABASE_URL: `sqlite:${join(d, 'prod.sqlite')}` });
    expect(c.sqliteFile).toBe(join(d, 'prod.sqlite'));
    expect(c.DATABASE_URL).toBeUndefined();
    // Outside production the default file stays DATA_DIR/twofold.sqlite.
    expect(loadConfig({ DATA_DIR: d }).sqliteFile).toBe(join(resolve(d), 'twofold.sqlite'));
  });

  it('when `twofold serve` starts in production without an encryption key then it exits 2 naming it, and creates no key or database', () => {
    const d = dir();
    const r = spawnSync(process.execPath, ['bin/twofold.js', 'serve'], {
      env: { PATH: process.env['PATH'] ?? '', NODE_ENV: 'production', DATA_DIR: d, DATABASE_URL: `sqlite:${join(d, 'twofold.sqlite')}`, PORT: '0', LOG_LEVEL: 'silent' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/ENCRYPTION_KEY: required when NODE_ENV=production/);
    expect(existsSync(join(d, 'secrets.json'))).toBe(false);
    expect(existsSync(join(d, 'twofold.sqlite'))).toBe(false);
  });
});
