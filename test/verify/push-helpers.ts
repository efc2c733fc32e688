// Helpers of the Verify v2 push suites: the webhook receiver (test/helpers/twilio-verify.ts), the real `twofold authenticator`
// command run in-process, and an enrolled push factor.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main, type CliIo } from '../../src/cli.js';
import { PushFactorClient, type PushFactorState } from '../../src/authenticator/verify-push.js';
import type { VerifyClient } from '../helpers/twilio-verify.js';

export { webhookReceiver } from '../helpers/twilio-verify.js';

/** `twofold authenticator …` as the shell runs it (src/cli.ts main), with its output. */
export async function authenticator(args: string[], state: string): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l), env: {} };
  const code = await main(['authenticator', ...args, '--state', state], io);
  return { code, out, err };
}

export const freshStateFile = () => join(mkdtempSync(join(tmpdir(), 'twofold-push-')), 'state.json');

/** The push factors a state file holds, as clients. */
export function pushClients(state: string): PushFactorClient[] {
  const file = JSON.parse(readFileSync(state, 'utf8')) as { verify_push?: PushFactorState[] };
  return (file.verify_push ?? []).map((f) => new PushFactorClient(f));
}

/** A service's entity with a verified push factor enrolled by the CLI: its identity and the factor's client. */
export async function enrolled(client: VerifyClient, url: string, serviceSid: string, state = freshStateFile()): Promise<{ identity: string; device: PushFactorClient; state: string }> {
  const identity = randomUUID();
  const tok = await client.verify.v2.services(serviceSid).accessTokens.create({ identity, factorType: 'push' });
  const r = await authenticator(['verify-enrol', '--url', url, '--service', serviceSid, '--identity', identity, '--token', tok.token, '--name', 'Test phone'], state);
  if (r.code !== 0) throw new Error(`enrolment failed: ${r.err.join('\n')}`);
  const device = pushClients(state).find((c) => c.state.identity === identity)!;
  return { identity, device, state };
}
