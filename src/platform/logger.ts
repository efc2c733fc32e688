import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Paths that may carry a secret. Twofold never logs request bodies; this list is the second line
 * of defence for objects that reach a log call by mistake.
 */
const REDACT = [
  'password', '*.password', 'code', '*.code', 'token', '*.token', 'secret', '*.secret',
  'apiKey', '*.apiKey', 'api_key', '*.api_key', 'key', '*.key', 'privateKey', '*.privateKey',
  'req.headers.cookie', 'req.headers.authorization', 'req.headers["x-authy-api-key"]',
  'req.headers["x-authy-signature"]', 'res.headers["set-cookie"]', 'headers.cookie',
  'headers.authorization', 'headers["x-authy-api-key"]', 'cookie', 'otp', '*.otp', 'link', '*.link',
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'twofold' },
      redact: { paths: REDACT, censor: '[redacted]' },
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
