import { parseArgs } from 'node:util';
import { CliUsageError, type CliIo } from '../platform/cli-io.js';
import type { Config } from '../platform/config.js';
import { withTables, type Db } from '../platform/db.js';
import type { AppTables } from './schema.js';
import { emailSchema } from './validation.js';

const USAGE = `Usage:
  twofold audit --user EMAIL [--limit N]   a user's authentication events, newest first (default 20, at most 1000)`;

/** Control characters and tabs out of a field (the user agent is attacker-chosen text). */
const clean = (s: string) => s.replace(/[\u0000-\u001f\u007f]/g, ' ');

function formatDetail(raw: string | null): string {
  if (!raw) return '-';
  try {
    const d = JSON.parse(raw) as Record<string, unknown>;
    const parts = Object.entries(d).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
    return parts.length ? clean(parts.join(' ')) : '-';
  } catch {
    return clean(raw);
  }
}

/**
 * `twofold audit --user EMAIL [--limit N]`: the user's events for operators — the web app's own
 * (`app-user:<id>`) and the verification service's for the same person (`authy:<authy_id>`:
 * lockouts, device activations, codes sent), merged, newest first. One line per event, tab
 * separated: time (ISO 8601), type, outcome, detail, IP, user agent. Never a secret: the audit
 * trail holds none.
 */
export async function runAuditCommand(args: string[], io: CliIo, c: Config, open: () => Promise<Db>): Promise<number> {
  if (args[0] === 'help' || args[0] === '--help' || args[0] === '-h') {
    io.out(USAGE);
    return 0;
  }
  let values: { user?: string | undefined; limit?: string | undefined };
  try {
    values = parseArgs({ args, options: { user: { type: 'string' }, limit: { type: 'string' } }, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw new CliUsageError(`${(e as Error).message}\n\n${USAGE}`);
  }
  const email = emailSchema.safeParse(values.user ?? '');
  if (!email.success) throw new CliUsageError(`--user must be an email address\n\n${USAGE}`);
  let limit = 20;
  if (values.limit !== undefined) {
    if (!/^\d{1,4}$/.test(values.limit) || Number(values.limit) < 1 || Number(values.limit) > 1000) throw new CliUsageError(`--limit must be a number from 1 to 1000\n\n${USAGE}`);
    limit = Number(values.limit);
  }

  const db = withTables<AppTables>(await open());
  try {
    const user = await db.db.selectFrom('app_users').select(['id', 'authy_id', 'email']).where('email', '=', email.data).executeTakeFirst();
    if (!user) {
      io.err(`No user with the email ${email.data}.`);
      return 1;
    }
    const refs = [`app-user:${user.id}`, ...(user.authy_id !== null ? [`authy:${user.authy_id}`] : [])];
    const rows = await db.db.selectFrom('audit_events').selectAll().where('user_ref', 'in', refs).orderBy('at', 'desc').orderBy('id', 'desc').limit(limit).execute();
    io.out(['time', 'type', 'outcome', 'detail', 'ip', 'user_agent'].join('\t'));
    for (const r of rows) {
      io.out([new Date(r.at).toISOString(), r.type, r.outcome, formatDetail(r.detail), clean(r.ip ?? '-'), clean(r.user_agent ?? '-')].join('\t'));
    }
    if (rows.length === 0) io.err(`No events for ${user.email}.`);
    return 0;
  } finally {
    await db.close();
  }
}
