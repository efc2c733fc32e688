import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeRequest } from '../../src/authenticator/cli.js';
import { main, type CliIo } from '../../src/cli.js';

function io(env: Record<string, string | undefined> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const value: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l), env };
  return { io: value, out, err };
}

describe('twofold authenticator (without a service)', () => {
  it('when no subcommand is given then usage is printed and the exit code is 2', async () => {
    const t = io();
    expect(await main(['authenticator'], t.io)).toBe(2);
    expect(t.out.join('\n')).toMatch(/activate <link>/);
  });

  it.each([['--help'], ['-h'], ['help']])('when help is asked for (%s) then usage is printed and the exit code is 0', async (flag) => {
    const t = io();
    expect(await main(['authenticator', flag], t.io)).toBe(0);
    expect(t.out.join('\n')).toMatch(/activate <link>/);
  });

  it('when an unknown subcommand or option is given then exit code 2', async () => {
    expect(await main(['authenticator', 'explode'], io().io)).toBe(2);
    expect(await main(['authenticator', 'code', '--bogus'], io().io)).toBe(2);
  });

  it('when there is no state file then the command says to activate first', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'twofold-cli-'));
    const t = io({ TWOFOLD_STATE: join(dir, 'missing.json') });
    expect(await main(['authenticator', 'code'], t.io)).toBe(2);
    expect(t.err.join('\n')).toMatch(/activate/);
  });

  it('when the link is not an activation link then activation fails before any network call', async () => {
    const t = io();
    expect(await main(['authenticator', 'activate', 'https://example.com/', '--state', '/nonexistent/x.json'], t.io)).toBe(2);
    expect(t.err.join('\n')).toMatch(/activation link/);
  });

  it('when the state holds a seed then code prints six digits from it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'twofold-cli-'));
    const file = join(dir, 'state.json');
    const { generateKeyPairSync } = await import('node:crypto');
    writeFileSync(
      file,
      JSON.stringify({
        service_url: 'http://127.0.0.1:1',
        device_id: '00000000-0000-4000-8000-000000000000',
        name: 'x',
        private_key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }),
        user: { authy_id: 1, email_hint: 'a***@example.com' },
        totp: { secret: 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', digits: 6, period: 30, algorithm: 'SHA1', issuer: 'T', label: 'a' },
      }),
    );
    const t = io();
    expect(await main(['authenticator', 'code', '--state', file], t.io)).toBe(0);
    expect(t.out[0]).toMatch(/^\d{6} \(\d+s left\)$/);
    // An unreachable service is a clean error, not a crash.
    const p = io();
    expect(await main(['authenticator', 'pending', '--state', file], p.io)).toBe(1);
    expect(p.err.join('\n')).toMatch(/Cannot reach the service/);
  });

  it('when a request carries terminal escapes then watch output neutralises them', () => {
    const lines = describeRequest({
      uuid: 'u',
      seq: 1,
      message: 'Login\u001b[2J now',
      details: { 'Where\u0007': 'Paris\u202e' },
      logos: [],
      created_at: 0,
      expires_at: null,
      number_matching: true,
      app_name: 'App',
    });
    expect(lines.join('\n')).not.toMatch(/[\u001b\u0007\u202e]/);
    expect(lines.join('\n')).toContain('Enter the number shown on the login page: twofold authenticator approve u --number NN');
  });
});
