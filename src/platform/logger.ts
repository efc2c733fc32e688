import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * The fields a log line may show. Logging is an allow-list: any other field a log call passes
 * (by mistake, or added later without thought) is written as "[redacted]", whatever it holds, so
 * a password, code, seed, key or token that reaches a log call is never written. Twofold never
 * logs request bodies. Error codes travel as `error_code` (an OTP is never named that).
 */
export const LOG_FIELDS: ReadonlySet<string> = new Set([
  // Requests and refusals.
  'route', 'status', 'ms', 'error_code', 'reason',
  // Errors (see the `err` serializer) and the text of a failed delivery.
  'err', 'error',
  // Identifiers: rows and users by number or uuid, never by contact data.
  'userId', 'authyId', 'app_id', 'device_id', 'outbox_id', 'secretId', 'attempts',
  // Start-up and operations.
  'url', 'only', 'database', 'sms', 'listening', 'host', 'dir', 'file', 'transport', 'variable', 'migrations',
  'split_accounts', 'factors_reset_accounts', 'removed',
]);

const REDACTED = '[redacted]';

/** Keep only allowed fields' values (see LOG_FIELDS). */
function allowListed(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = LOG_FIELDS.has(k) ? v : REDACTED;
  return out;
}

/**
 * An error as a log shows it: its class, message, code and stack, and its cause. Not its other
 * properties (a database error's `detail` quotes the row's values, a phone number say).
 */
function errorFields(e: unknown, depth = 0): unknown {
  if (!(e instanceof Error)) return typeof e === 'string' ? e : REDACTED;
  const code = (e as { code?: unknown }).code;
  return {
    type: e.name,
    message: e.message,
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    stack: e.stack,
    ...(e.cause !== undefined && depth < 3 ? { cause: errorFields(e.cause, depth + 1) } : {}),
  };
}

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'twofold' },
      formatters: { log: allowListed },
      serializers: { err: errorFields },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? process.stdout,
  );
}

/** Strip query strings from a URL before logging: tokens and API keys can travel there. */
export function pathOnly(url: string): string {
  const i = url.indexOf('?');
  return i === -1 ? url : url.slice(0, i);
}
