import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { CliIo } from '../platform/cli-io.js';
import { createPushFactor, PushFactorClient, type PushChallenge, type PushFactorState } from './verify-push.js';

/** The `verify-*` commands of `twofold authenticator`: the CLI as the Verify Push SDK (docs/verify-v2.md). */

export const VERIFY_PUSH_USAGE = `  verify-enrol --url URL --service VA… --identity ID --token TOKEN [--name N]
                                             enrol a Verify v2 push factor with the app's access token
  verify-pending [--factor YF…]              list pending Verify push challenges
  verify-approve <YC…>                       show a push challenge, then approve it
  verify-deny <YC…>                          show a push challenge, then deny it`;

export interface VerifyPushOptions {
  url?: string | undefined;
  service?: string | undefined;
  identity?: string | undefined;
  token?: string | undefined;
  name?: string | undefined;
  factor?: string | undefined;
}

/**
 * Terminal-safe text on one line: a challenge's message and fields come from the relying app (and
 * whoever it quotes), the rest from the service. Control characters (escapes, C1, and line breaks
 * and tabs too: a message must not print lines that pass for the display's own), format characters
 * (bidi marks, overrides and isolates, zero-width characters), line and paragraph separators and
 * lone surrogates are shown as `?`.
 */
const clean = (s: string) => String(s).replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu, '?');

/** The state file as JSON: the OneTouch device's fields (when activated) and `verify_push`, this machine's push factors. */
function readFile(path: string): Record<string, unknown> & { verify_push?: PushFactorState[] } {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw e;
  }
}

function writeFile(path: string, state: Record<string, unknown>): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export function describeChallenge(ch: PushChallenge, f: PushFactorState): string[] {
  const lines = [`Challenge ${clean(ch.sid)} for ${clean(f.identity)} (factor ${clean(f.factor_sid)} "${clean(f.friendly_name)}", ${clean(f.url)})`];
  lines.push(`  ${clean(ch.details.message ?? '(no message)')}`);
  for (const field of ch.details.fields ?? []) lines.push(`  ${clean(field.label)}: ${clean(field.value)}`);
  lines.push(`  Status: ${clean(ch.status)}; expires ${clean(ch.expiration_date)}`);
  return lines;
}

/** Run a `verify-*` command; `usage(message)` makes the error the CLI answers with exit code 2. */
export async function runVerifyPush(command: string, arg: string | undefined, o: VerifyPushOptions, path: string, io: CliIo, usage: (m: string) => Error): Promise<number> {
  const file = readFile(path);
  const factors = (file.verify_push ?? []).filter((f) => o.factor === undefined || f.factor_sid === o.factor);
  if (command === 'verify-enrol') {
    if (!o.url || !o.service || !o.identity || !o.token) throw usage(`verify-enrol needs --url, --service, --identity and --token\n\n${VERIFY_PUSH_USAGE}`);
    if (!/^https?:\/\//.test(o.url)) throw usage('--url must be the Twofold service URL (http:// or https://)');
    const name = (o.name ?? `CLI on ${process.env['HOSTNAME'] ?? 'this machine'}`).slice(0, 64);
    const state = await createPushFactor({ url: o.url, serviceSid: o.service, identity: o.identity, token: o.token, name });
    // Kept before it is verified: the key must not be lost if verifying fails.
    writeFile(path, { ...file, verify_push: [...(file.verify_push ?? []), state] });
    const status = await new PushFactorClient(state).verify();
    io.out(`Enrolled push factor ${state.factor_sid} ("${clean(state.friendly_name)}") for ${clean(o.identity)}: ${status}; state saved to ${path}`);
    return 0;
  }
  if (factors.length === 0) throw usage(`No Verify push factor in ${path}: run "twofold authenticator verify-enrol" first`);
  if (command === 'verify-pending') {
    let n = 0;
    for (const f of factors) {
      for (const ch of await new PushFactorClient(f).pending()) {
        n++;
        for (const l of describeChallenge(ch, f)) io.out(l);
        io.out(`  Approve: twofold authenticator verify-approve ${clean(ch.sid)}`);
        io.out(`  Deny:    twofold authenticator verify-deny ${clean(ch.sid)}`);
      }
    }
    if (n === 0) io.out('No pending push challenges.');
    return 0;
  }
  if (!arg || !/^YC[0-9a-f]{32}$/.test(arg)) throw usage(`${command} needs the challenge SID (YC…)\n\n${VERIFY_PUSH_USAGE}`);
  for (const f of factors) {
    const client = new PushFactorClient(f);
    const ch = (await client.pending()).find((c) => c.sid === arg);
    if (!ch) continue;
    // What is answered is what was shown: the signature covers these details.
    for (const l of describeChallenge(ch, f)) io.out(l);
    const status = await client.answer(ch, command === 'verify-approve' ? 'approved' : 'denied');
    io.out(`Challenge ${arg}: ${status}`);
    return 0;
  }
  io.err(`No pending push challenge ${arg}`);
  return 1;
}
