import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { CliIo } from '../platform/cli-io.js';
import { activateDevice, DeviceApiError, parseActivationLink, DeviceClient, type ApprovalForDevice, type DeviceState } from './client.js';
import { runVerifyPush, VERIFY_PUSH_USAGE } from './verify-push-cli.js';

const USAGE = `Usage: twofold authenticator <command> [--state FILE]

  activate <link> [--name N] [--service URL]   enrol this machine as an authenticator
  code                                       print the current TOTP code
  pending                                    list pending approval requests
  approve <uuid> [--number NN]               approve a request (NN: the number shown on the login page)
  deny <uuid>                                deny a request
  watch [--count N] [--timeout SECONDS]      stream approval requests as they arrive
${VERIFY_PUSH_USAGE}

The state file (default $TWOFOLD_STATE or ./twofold-authenticator.json) holds the device's
private key: it is written with mode 0600.`;

class UsageError extends Error {}

/** Terminal-safe text: a request's message and details come from the relying app. */
const clean = (s: string) => s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '?');

function statePath(file: string | undefined, io: CliIo): string {
  return resolve(file ?? io.env['TWOFOLD_STATE'] ?? './twofold-authenticator.json');
}

function readState(path: string): DeviceState {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new UsageError(`No authenticator state at ${path}: run "twofold authenticator activate <link>" first`);
  }
  const state = JSON.parse(text) as DeviceState;
  if (!state.device_id) throw new UsageError(`${path} holds no activated device: run "twofold authenticator activate <link>" first`);
  return state;
}

function writeState(path: string, state: DeviceState): void {
  const tmp = `${path}.${process.pid}.tmp`;
  // The Verify push factors kept in the same file stay.
  let kept: { verify_push?: unknown } = {};
  try {
    if (existsSync(path)) kept = { verify_push: (JSON.parse(readFileSync(path, 'utf8')) as { verify_push?: unknown }).verify_push };
  } catch {
    /* not JSON: nothing to keep */
  }
  writeFileSync(tmp, `${JSON.stringify({ ...state, ...kept }, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export function describeRequest(r: ApprovalForDevice): string[] {
  const lines = [`Approval request ${r.uuid} from ${clean(r.app_name)}`, `  ${clean(r.message)}`];
  for (const [k, v] of Object.entries(r.details)) lines.push(`  ${clean(k)}: ${clean(v)}`);
  lines.push(`  Expires: ${r.expires_at === null ? 'never' : new Date(r.expires_at).toISOString()}`);
  if (r.number_matching) {
    lines.push(`  Enter the number shown on the login page: twofold authenticator approve ${r.uuid} --number NN`);
  } else {
    lines.push(`  Approve: twofold authenticator approve ${r.uuid}`);
  }
  lines.push(`  Deny:    twofold authenticator deny ${r.uuid}`);
  return lines;
}

export async function runAuthenticatorCommand(args: string[], io: CliIo): Promise<number> {
  try {
    return await run(args, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(e.message);
      return 2;
    }
    if (e instanceof DeviceApiError) {
      io.err(`Refused (${e.status} ${e.code}): ${e.message}`);
      return 1;
    }
    if (e instanceof TypeError && /fetch/.test(e.message)) {
      io.err(`Cannot reach the service: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

async function run(args: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        state: { type: 'string' },
        name: { type: 'string' },
        service: { type: 'string' },
        number: { type: 'string' },
        count: { type: 'string' },
        timeout: { type: 'string' },
        url: { type: 'string' },
        identity: { type: 'string' },
        token: { type: 'string' },
        factor: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  const [command, arg] = positionals;
  // Help asked for is an answer (0); no command at all is a usage mistake (2).
  if (values.help || command === 'help') {
    io.out(USAGE);
    return 0;
  }
  if (!command) {
    io.out(USAGE);
    return 2;
  }
  const path = statePath(values.state, io);

  switch (command) {
    case 'activate': {
      if (!arg) throw new UsageError(`activate needs the activation link\n\n${USAGE}`);
      try {
        parseActivationLink(arg);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      const name = values.name ?? `CLI on ${process.env['HOSTNAME'] ?? 'this machine'}`.slice(0, 64);
      const state = await activateDevice(arg, { name, ...(values.service ? { serviceUrl: values.service } : {}) });
      writeState(path, state);
      io.out(`Activated device ${state.device_id} ("${clean(state.name)}") for ${clean(state.user.email_hint)}; state saved to ${path}`);
      return 0;
    }
    case 'code': {
      const { code, secondsLeft } = new DeviceClient(readState(path)).code();
      io.out(`${code} (${secondsLeft}s left)`);
      return 0;
    }
    case 'pending': {
      const list = await new DeviceClient(readState(path)).pending();
      if (list.length === 0) io.out('No pending approval requests.');
      for (const r of list) for (const l of describeRequest(r)) io.out(l);
      return 0;
    }
    case 'approve':
    case 'deny': {
      if (!arg) throw new UsageError(`${command} needs the request uuid\n\n${USAGE}`);
      const client = new DeviceClient(readState(path));
      const request = (await client.pending()).find((r) => r.uuid === arg);
      if (!request) {
        io.err(`No pending request ${arg}`);
        return 1;
      }
      let number: string | null = null;
      if (command === 'approve' && request.number_matching) {
        if (!values.number) throw new UsageError('This request needs --number NN (the number shown on the login page)');
        if (!/^\d{1,2}$/.test(values.number)) throw new UsageError('--number must be the two digits shown on the login page');
        number = values.number.padStart(2, '0');
      }
      const status = await client.respond(arg, command === 'approve' ? 'approve' : 'deny', number, { message: request.message, details: request.details });
      io.out(`Request ${arg}: ${status}`);
      return 0;
    }
    case 'verify-enrol':
    case 'verify-pending':
    case 'verify-approve':
    case 'verify-deny':
      return runVerifyPush(command, arg, values, path, io, (m) => new UsageError(m));
    case 'watch':
      return watch(new DeviceClient(readState(path)), io, values.count, values.timeout);
    default:
      throw new UsageError(`Unknown authenticator command: ${command}\n\n${USAGE}`);
  }
}

/** Stream requests, reconnecting with Last-Event-ID, until `count` requests or `timeout` seconds. */
async function watch(client: DeviceClient, io: CliIo, countArg: string | undefined, timeoutArg: string | undefined): Promise<number> {
  const count = countArg === undefined ? Infinity : Number(countArg);
  const timeout = timeoutArg === undefined ? undefined : Number(timeoutArg);
  if (!(count > 0) || (timeout !== undefined && !(timeout > 0))) throw new UsageError('--count and --timeout must be positive numbers');
  const controller = new AbortController();
  const timer = timeout === undefined ? undefined : setTimeout(() => controller.abort(), timeout * 1000);
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  let seen = 0;
  let lastId: string | undefined;
  // A request can reach us twice (a replay after reconnecting overlaps the live stream): print once.
  const printed = new Set<string>();
  io.out('Watching for approval requests (Ctrl-C to stop)…');
  try {
    while (!controller.signal.aborted && seen < count) {
      try {
        lastId = await client.streamEvents({
          lastEventId: lastId,
          signal: controller.signal,
          onEvent: (e) => {
            if (e.type === 'approval_request') {
              if (e.id !== undefined) lastId = e.id;
              if (printed.has(e.request.uuid)) return;
              printed.add(e.request.uuid);
              for (const l of describeRequest(e.request)) io.out(l);
              seen++;
              if (seen >= count) controller.abort();
            } else {
              io.out(`Request ${e.uuid} closed: ${e.status}`);
            }
          },
        });
      } catch (e) {
        if (controller.signal.aborted) break;
        if (e instanceof DeviceApiError && e.status === 401) throw e;
        io.err(`Stream interrupted (${(e as Error).message}); reconnecting…`);
      }
      if (!controller.signal.aborted) await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    if (timer) clearTimeout(timer);
    process.off('SIGINT', onSignal);
  }
  return 0;
}
