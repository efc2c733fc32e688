import { parseArgs } from 'node:util';
import { CliUsageError, type CliIo } from '../platform/cli-io.js';
import { systemClock } from '../platform/clock.js';
import { SecretBox } from '../platform/crypto.js';
import type { Config } from '../platform/config.js';
import { withTables, type Db } from '../platform/db.js';
import type { OneTouchTables } from './schema-onetouch.js';
import type { VerifyTables } from './schema.js';
import { AppStore } from './core/apps.js';
import { SecondFactorLockout } from './core/lockout.js';
import { storeAppSigningKey } from './onetouch/signing-keys.js';

const USAGE = `Usage:
  twofold apps create --name NAME [--callback-url URL]   register an app; prints its API key once
  twofold apps list                                      list apps (never their keys)
  twofold apps unlock --user AUTHY_ID                    clear a user's second-factor lockout`;

/** `twofold apps …`: manage the applications (relying parties) of the verification service. */
export async function runAppsCommand(args: string[], io: CliIo, c: Config, open: () => Promise<Db>): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'create' && sub !== 'list' && sub !== 'unlock') {
    if (sub === undefined || sub === 'help' || sub === '--help') {
      io.out(USAGE);
      return sub === undefined ? 1 : 0;
    }
    throw new CliUsageError(`Unknown apps command: ${sub}\n\n${USAGE}`);
  }
  let values: { name?: string | undefined; 'callback-url'?: string | undefined; user?: string | undefined };
  try {
    values = parseArgs({
      args: rest,
      options: { name: { type: 'string' }, 'callback-url': { type: 'string' }, user: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    throw new CliUsageError(`${(e as Error).message}\n\n${USAGE}`);
  }

  let name = '';
  let callbackUrl: string | null = null;
  let userId = 0;
  if (sub === 'create') {
    name = (values.name ?? '').trim();
    if (!name || name.length > 60 || /[\u0000-\u001f\u007f]/.test(name)) throw new CliUsageError('--name is required: 1 to 60 printable characters');
    if (values['callback-url'] !== undefined) callbackUrl = validCallbackUrl(values['callback-url'], c.production);
  }
  if (sub === 'unlock') {
    if (!values.user || !/^\d{1,15}$/.test(values.user)) throw new CliUsageError('--user must be an authy_id (digits)');
    userId = Number(values.user);
  }

  const platformDb = await open();
  const db = withTables<VerifyTables>(platformDb);
  try {
    const apps = new AppStore(db.db, systemClock);
    if (sub === 'create') {
      const { app, apiKey } = await apps.create({ name, callbackUrl });
      // Callbacks are signed with the API key itself (Authy's scheme): keep it sealed for that.
      await storeAppSigningKey({ db: withTables<OneTouchTables>(platformDb), secretBox: new SecretBox(c.encryptionKey), clock: systemClock }, app.id, apiKey);
      io.out(`app_id: ${app.id}`);
      io.out(`name: ${app.name}`);
      io.out(`callback_url: ${app.callbackUrl ?? '(none)'}`);
      io.out(`api_key: ${apiKey}`);
      io.out(`account_sid: ${app.accountSid}`);
      io.err('The API key is shown only this once; Twofold keeps only its hash. Store it now.');
      io.err('For the Twilio Verify v2-compatible API (/v2), the Account SID is the user name and the API key the auth token.');
      return 0;
    }
    if (sub === 'list') {
      const list = await apps.list();
      io.out(['id', 'name', 'builtin', 'callback_url', 'created_at', 'account_sid'].join('\t'));
      for (const a of list) io.out([a.id, a.name, a.builtin ? 'yes' : 'no', a.callbackUrl ?? '-', new Date(a.createdAt).toISOString(), a.accountSid].join('\t'));
      return 0;
    }
    const lockout = new SecondFactorLockout(db.db, { threshold: c.OTP_LOCKOUT_THRESHOLD, lockSeconds: c.OTP_LOCKOUT_SECONDS });
    if (!(await lockout.reset(userId))) {
      io.err(`No user ${userId}.`);
      return 1;
    }
    io.out(`User ${userId}: second-factor failures cleared, lock removed.`);
    return 0;
  } finally {
    await db.close();
  }
}

function validCallbackUrl(raw: string, production: boolean): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new CliUsageError('--callback-url must be an absolute http(s) URL');
  }
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || raw.length > 2000 || u.username || u.password || u.hash) {
    throw new CliUsageError('--callback-url must be an absolute http(s) URL without credentials or fragment');
  }
  if (production && u.protocol !== 'https:') throw new CliUsageError('--callback-url must use https in production');
  return u.toString();
}
