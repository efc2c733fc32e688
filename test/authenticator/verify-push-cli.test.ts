import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeChallenge } from '../../src/authenticator/verify-push-cli.js';
import { main, type CliIo } from '../../src/cli.js';

function run(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l), env: {} };
  return main(['authenticator', ...args], io).then((code) => ({ code, out, err }));
}

const stateFile = () => join(mkdtempSync(join(tmpdir(), 'twofold-push-cli-')), 'state.json');
const factor = { url: 'http://127.0.0.1:1', service_sid: `VA${'1'.repeat(32)}`, identity: 'ada-lovelace-1', factor_sid: `YF${'2'.repeat(32)}`, friendly_name: 'Phone' };

describe('twofold authenticator verify-* (without a service)', () => {
  it('when help is asked for then the verify commands are listed', async () => {
    expect((await run(['--help'])).out.join('\n')).toMatch(/verify-enrol --url URL --service VA… --identity ID --token TOKEN/);
  });

  it('when verify-enrol lacks an option or has a bad URL then exit code 2 before any network call', async () => {
    const r = await run(['verify-enrol', '--url', 'http://127.0.0.1:1', '--service', factor.service_sid, '--identity', factor.identity, '--state', stateFile()]);
    expect([r.code, r.err.join()]).toEqual([2, expect.stringMatching(/--token/)]);
    expect((await run(['verify-enrol', '--url', 'file:///etc/passwd', '--service', 'VA1', '--identity', 'x', '--token', 't', '--state', stateFile()])).code).toBe(2);
  });

  it('when no push factor is enrolled then verify-pending says to enrol first (2), and a bad challenge SID is 2', async () => {
    const r = await run(['verify-pending', '--state', stateFile()]);
    expect([r.code, r.err.join()]).toEqual([2, expect.stringMatching(/verify-enrol/)]);
    const file = stateFile();
    writeFileSync(file, JSON.stringify({ verify_push: [{ ...factor, private_key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }) }] }));
    expect((await run(['verify-approve', 'nope', '--state', file])).code).toBe(2);
    // An unreachable service is a clean error, not a crash.
    const p = await run(['verify-pending', '--state', file]);
    expect([p.code, p.err.join()]).toEqual([1, expect.stringMatching(/Cannot reach the service/)]);
    // A file with push factors only is no OneTouch device.
    const c = await run(['pending', '--state', file]);
    expect([c.code, c.err.join()]).toEqual([2, expect.stringMatching(/no activated device/)]);
  });

  it('when a challenge carries terminal escapes then its description neutralises them', () => {
    const lines = describeChallenge(
      { sid: 'YC1', factor_sid: factor.factor_sid, status: 'pending', details: { message: 'Log in\u001b[2J', fields: [{ label: 'IP\u0007', value: '1.2.3.4\u202e' }] }, expiration_date: '2030-01-01T00:00:00Z', date_created: '2030-01-01T00:00:00Z' },
      { ...factor, private_key: {} },
    );
    expect(lines.join('\n')).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u202e]/);
    expect(lines.join('\n')).toContain('IP?: 1.2.3.4?');
  });
});
