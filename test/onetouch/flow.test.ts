import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../src/cli.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { activationLink, approvalStatus, CallbackReceiver, createApp, createApproval, registerUser, sleep } from './helpers.js';

const require = createRequire(import.meta.url);
type Callback<T> = (err: unknown, res: T) => void;
interface AuthyNpm {
  send_approval_request(id: number, payload: { message: string; details?: Record<string, string> }, hidden: Record<string, string>, logos: unknown, cb: Callback<{ approval_request: { uuid: string } }>): void;
  check_approval_status(uuid: string, cb: Callback<{ approval_request: { status: string } }>): void;
}
const authyNpm = require('authy') as (key: string, url: string) => AuthyNpm;
const AuthyClient = (require('authy-client') as { Client: new (o: { key: string }, p: { host: string }) => AuthyClientApi }).Client;
interface AuthyClientApi {
  verifyCallback(r: { body: unknown; headers: Record<string, unknown>; method: string; protocol: string; url: string }): Promise<unknown>;
  getApprovalRequest(r: { id: string }): Promise<{ approval_request: { status: string } }>;
  createApprovalRequest(r: { authyId: number; message: string; details?: { visible?: Record<string, string> } }, o?: { ttl?: number }): Promise<{ approval_request: { uuid: string } }>;
}

/** An io that records output and lets a test wait for a line. */
function recordingIo(env: Record<string, string | undefined> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (l) => out.push(...l.split('\n')), err: (l) => err.push(l), env };
  const waitFor = async (re: RegExp, ms = 10_000) => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      const line = out.find((l) => re.test(l));
      if (line) return line;
      await sleep(25);
    }
    throw new Error(`no output line matching ${re}; got:\n${out.join('\n')}\n${err.join('\n')}`);
  };
  return { io, out, err, waitFor };
}

const call = <T>(fn: (cb: Callback<T>) => void) => new Promise<T>((res, rej) => fn((e, r) => (e ? rej(e instanceof Error ? e : new Error(JSON.stringify(e))) : res(r))));

describe('OneTouch end to end: CLI authenticator, authy clients, signed callback', () => {
  let ts: TestSystem;
  const rx = new CallbackReceiver();
  let app: { id: number; apiKey: string };
  let userId: number;
  let stateFile: string;

  beforeAll(async () => {
    ts = await startTestSystem();
    await rx.start();
    app = await createApp(ts, rx.url, 'Flow App');
    userId = await registerUser(ts.url, app.apiKey);
    stateFile = join(mkdtempSync(join(tmpdir(), 'twofold-cli-')), 'state.json');
  });
  afterAll(async () => {
    await ts.stop();
    await rx.stop();
  });

  it('when the CLI activates from a link then the state file is private and holds the device key', async () => {
    const link = await activationLink(ts.url, app.apiKey, userId);
    const { io, out, err } = recordingIo();
    expect(await main(['authenticator', 'activate', link, '--state', stateFile, '--name', 'cli laptop'], io), err.join('\n')).toBe(0);
    expect(out.join('\n')).toMatch(/Activated device/);
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { device_id: string; private_key: { d?: string }; totp: { secret: string } };
    expect(state.private_key.d).toBeTruthy();
    expect(state.totp.secret).toMatch(/^[A-Z2-7]+$/);
    // The same link cannot enrol a second device.
    const again = recordingIo();
    expect(await main(['authenticator', 'activate', link, '--state', `${stateFile}.2`], again.io)).toBe(1);
    expect(again.err.join('\n')).toMatch(/ACTIVATION_INVALID/);
  });

  it('when the authy npm client asks for an approval then watch shows it and approving sends a callback authy-client verifies', async () => {
    const watch = recordingIo();
    const watching = main(['authenticator', 'watch', '--state', stateFile, '--count', '1', '--timeout', '20'], watch.io);
    await watch.waitFor(/Watching/);
    const authy = authyNpm(app.apiKey, ts.url);
    const created = await call<{ approval_request: { uuid: string } }>((cb) =>
      authy.send_approval_request(userId, { message: 'Login to Flow App', details: { 'Email Address': 'flow@example.com' } }, { ip: '10.0.0.1' }, null, cb),
    );
    const uuid = created.approval_request.uuid;
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    await watch.waitFor(new RegExp(`Approval request ${uuid}`));
    expect(await watching).toBe(0);
    expect(watch.out.join('\n')).toContain('Login to Flow App');
    expect(watch.out.join('\n')).toContain('Email Address: flow@example.com');

    const approve = recordingIo();
    expect(await main(['authenticator', 'approve', uuid, '--state', stateFile], approve.io), approve.err.join('\n')).toBe(0);
    expect(approve.out.join('\n')).toContain('approved');

    const status = await call<{ approval_request: { status: string } }>((cb) => authy.check_approval_status(uuid, cb));
    expect(status.approval_request.status).toBe('approved');
    const client = new AuthyClient({ key: app.apiKey }, { host: ts.url });
    expect((await client.getApprovalRequest({ id: uuid })).approval_request.status).toBe('approved');

    const [cb] = await rx.waitFor(1);
    expect(cb!.body['status']).toBe('approved');
    expect(cb!.body['uuid']).toBe(uuid);
    expect(cb!.headers['x-authy-signature-nonce']).toMatch(/^\d{10}$/);
    expect(cb!.headers['x-forwarded-proto']).toBe('http');
    await expect(
      client.verifyCallback({ body: cb!.body, headers: cb!.headers as Record<string, unknown>, method: 'POST', protocol: 'http', url: cb!.url }),
    ).resolves.toBeTruthy();
    // A tampered body does not verify.
    await expect(
      client.verifyCallback({ body: { ...cb!.body, status: 'denied' }, headers: cb!.headers as Record<string, unknown>, method: 'POST', protocol: 'http', url: cb!.url }),
    ).rejects.toThrow();
  });

  it('when number matching is on then watch asks for the number and only the right number approves', async () => {
    const watch = recordingIo();
    const watching = main(['authenticator', 'watch', '--state', stateFile, '--count', '1', '--timeout', '20'], watch.io);
    await watch.waitFor(/Watching/);
    const c = await createApproval(ts.url, app.apiKey, userId, { message: 'Number login', number_matching: true });
    expect(c.status).toBe(200);
    const uuid = c.body['approval_request'].uuid as string;
    const number = c.body['number'] as string;
    expect(number).toMatch(/^\d{2}$/);
    expect(await watching).toBe(0);
    expect(watch.out.join('\n')).toContain(`Enter the number shown on the login page: twofold authenticator approve ${uuid} --number NN`);

    const missing = recordingIo();
    expect(await main(['authenticator', 'approve', uuid, '--state', stateFile], missing.io)).toBe(2);
    const wrong = recordingIo();
    const wrongNumber = String((Number(number) + 1) % 100).padStart(2, '0');
    expect(await main(['authenticator', 'approve', uuid, '--state', stateFile, '--number', wrongNumber], wrong.io)).toBe(1);
    expect(wrong.err.join('\n')).toMatch(/APPROVAL_REFUSED/);
    expect((await approvalStatus(ts.url, app.apiKey, uuid)).body['approval_request'].status).toBe('pending');

    const right = recordingIo();
    expect(await main(['authenticator', 'approve', uuid, '--state', stateFile, '--number', number], right.io), right.err.join('\n')).toBe(0);
    expect((await approvalStatus(ts.url, app.apiKey, uuid)).body['approval_request'].status).toBe('approved');
    const cbs = await rx.waitFor(2);
    expect(cbs.map((x) => x.body['uuid'])).toContain(uuid);
  });

  it('when authy-client creates a request and the CLI denies it then the callback says denied', async () => {
    const client = new AuthyClient({ key: app.apiKey }, { host: ts.url });
    const created = await client.createApprovalRequest({ authyId: userId, message: 'Deny me', details: { visible: { Where: 'Paris' } } }, { ttl: 120 });
    const uuid = created.approval_request.uuid;
    const pending = recordingIo();
    expect(await main(['authenticator', 'pending', '--state', stateFile], pending.io)).toBe(0);
    expect(pending.out.join('\n')).toContain('Where: Paris');
    const deny = recordingIo();
    expect(await main(['authenticator', 'deny', uuid, '--state', stateFile], deny.io), deny.err.join('\n')).toBe(0);
    expect((await client.getApprovalRequest({ id: uuid })).approval_request.status).toBe('denied');
    const cbs = await rx.waitFor(3);
    const cb = cbs.find((x) => x.body['uuid'] === uuid)!;
    expect(cb.body['status']).toBe('denied');
    await expect(client.verifyCallback({ body: cb.body, headers: cb.headers as Record<string, unknown>, method: 'POST', protocol: 'http', url: cb.url })).resolves.toBeTruthy();
  });

  it('when the CLI prints a code then it is the TOTP code of the seed it received', async () => {
    const { io, out } = recordingIo({ TWOFOLD_STATE: stateFile });
    expect(await main(['authenticator', 'code'], io)).toBe(0);
    const code = /^(\d{6}) \(\d+s left\)$/.exec(out[0]!)?.[1];
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { totp: { secret: string } };
    const { oathtool } = await import('../verify/helpers.js');
    // Codes around a step boundary may differ by one step; compare against now and the previous step.
    const now = new Date();
    expect([oathtool(state.totp.secret, now), oathtool(state.totp.secret, new Date(now.getTime() - 30_000))]).toContain(code);
  });
});
