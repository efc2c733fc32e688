import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseEnv } from '../src/platform/config.js';
import { RUN_SOURCES } from './helpers/child-server.js';

const dir = () => mkdtempSync(join(tmpdir(), 'twofold-config-'));

describe('configuration', () => {
  it('when nothing is set then the embedded defaults apply', () => {
    const e = parseEnv({});
    expect(e.PORT).toBe(3000);
    expect(e.SMS_TRANSPORT).toBe('outbox');
    expect(e.TRUST_PROXY).toBe(0);
    expect(e.DATABASE_URL).toBeUndefined();
    expect(e.MAIL_TRANSPORT).toBe('outbox');
    expect(e.MAIL_FROM).toBe('Twofold <twofold@localhost>');
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'mysql://x'],
    ['SMS_TRANSPORT', 'pigeon'],
    ['TRUST_PROXY', '-1'],
    ['PUBLIC_URL', 'not a url'],
    ['ENCRYPTION_KEY', 'c2hvcnQ='],
    ['SMS_COUNTRY_ALLOWLIST', 'US,USA'],
    ['MAIL_TRANSPORT', 'pigeon'],
    ['SMTP_URL', 'http://mail.example.com'],
    ['SMTP_URL', 'smtp://mail.example.com/path'],
    ['MAIL_FROM', 'not an address'],
    ['MAIL_FROM', 'Evil <a@b.c>\r\nBcc: x@y.z'],
  ])('when %s=%s then the error names the variable', (name, value) => {
    expect(() => parseEnv({ [name]: value })).toThrow(ConfigError);
    expect(() => parseEnv({ [name]: value })).toThrow(new RegExp(name));
  });

  it('when MAIL_TRANSPORT=smtp without SMTP_URL then it refuses to start; with one it takes it and a named sender', () => {
    expect(() => parseEnv({ MAIL_TRANSPORT: 'smtp' })).toThrow(/SMTP_URL: required when MAIL_TRANSPORT=smtp/);
    const e = parseEnv({ MAIL_TRANSPORT: 'smtp', SMTP_URL: 'smtps://user:pa%2Fss@mail.example.com:465', MAIL_FROM: 'Example Accounts <accounts@example.com>' });
    expect(e.SMTP_URL).toBe('smtps://user:pa%2Fss@mail.example.com:465');
    expect(e.MAIL_FROM).toBe('Example Accounts <accounts@example.com>');
  });

  it('when SMS_TRANSPORT=twilio without credentials then it refuses to start', () => {
    expect(() => parseEnv({ SMS_TRANSPORT: 'twilio' })).toThrow(/TWILIO_ACCOUNT_SID/);
  });

  it('when secrets are absent then they are generated once into DATA_DIR with mode 0600', () => {
    const d = dir();
    const first = loadConfig({ DATA_DIR: d });
    expect(first.generatedSecrets.sort()).toEqual(['ENCRYPTION_KEY', 'VAPID_PRIVATE_KEY', 'VAPID_PUBLIC_KEY', 'VERIFY_API_KEY']);
    const file = join(d, 'secrets.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const second = loadConfig({ DATA_DIR: d });
    expect(second.generatedSecrets).toEqual([]);
    expect(second.encryptionKey.equals(first.encryptionKey)).toBe(true);
    expect(second.appApiKey).toBe(first.appApiKey);
    expect(second.vapid).toEqual(first.vapid);
    expect(readFileSync(file, 'utf8')).toContain(first.appApiKey);
  });

  it('when secrets come from the environment then nothing is written', () => {
    const d = join(dir(), 'sub');
    const key = Buffer.alloc(32, 7).toString('base64');
    const vapid = loadConfig({ DATA_DIR: dir() }).vapid;
    const c = loadConfig({ DATA_DIR: d, ENCRYPTION_KEY: key, VERIFY_API_KEY: 'k'.repeat(32), VAPID_PUBLIC_KEY: vapid.publicKey, VAPID_PRIVATE_KEY: vapid.privateKey });
    expect(c.generatedSecrets).toEqual([]);
    expect(c.vapid).toEqual(vapid);
    expect(() => statSync(d)).toThrow();
  });

  it('when the process starts with a bad value then it exits non-zero naming the variable', () => {
    const r = spawnSync(process.execPath, ['bin/twofold.js', 'serve'], {
      env: { ...process.env, PORT: 'abc', DATA_DIR: dir(), ...RUN_SOURCES },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/PORT/);
  });
});
