import type { ErrorRequestHandler } from 'express';
import type { Logger } from '../../platform/logger.js';

/**
 * A refusal of the Verify v2-compatible API, rendered as Twilio renders its errors:
 * `{ code, message, more_info, status }` with Twilio's numeric code (docs/verify-v2.md lists them).
 */
export class TwilioError extends Error {
  override name = 'TwilioError';
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly o: { reason?: string; headers?: Record<string, string> } = {},
  ) {
    super(message);
  }
}

export const authenticationError = () => new TwilioError(401, 20003, 'Authenticate', { headers: { 'WWW-Authenticate': 'Basic realm="Twilio API"' } });
export const notFound = (path: string) => new TwilioError(404, 20404, `The requested resource ${path} was not found`);
export const invalidParameter = (name: string, why?: string) => new TwilioError(400, 60200, `Invalid parameter \`${name}\`${why ? `: ${why}` : ''}`);
export const channelDisabled = (channel: string) => new TwilioError(400, 60223, `Delivery channel disabled: ${channel.toUpperCase()}`);
export const maxSendAttempts = (retryAfter?: number) =>
  new TwilioError(429, 60203, 'Max send attempts reached', retryAfter ? { headers: { 'Retry-After': String(retryAfter) } } : {});
export const maxCheckAttempts = () => new TwilioError(429, 60202, 'Max check attempts reached');

export function renderTwilioError(e: TwilioError): { status: number; headers: Record<string, string>; body: Record<string, unknown> } {
  return { status: e.status, headers: e.o.headers ?? {}, body: { code: e.code, message: e.message, more_info: `https://www.twilio.com/docs/errors/${e.code}`, status: e.status } };
}

/** Every failure of the /v2 routes in Twilio's shape; a body the parsers refuse is the client's 400, anything else a logged 500. */
export function twilioErrorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    let e: TwilioError;
    if (err instanceof TwilioError) e = err;
    else if (typeof (err as { status?: unknown }).status === 'number' && (err as { status: number }).status < 500 && (err as { type?: unknown }).type !== undefined) {
      // body-parser: too large, malformed, too many parameters.
      const status = (err as { status: number }).status;
      e = new TwilioError(status === 413 ? 413 : 400, 20001, status === 413 ? 'Request entity too large' : 'Invalid request body');
    } else {
      logger.error({ err, route: `${req.method} ${req.baseUrl}${req.route ? String((req.route as { path: string }).path) : ''}` }, 'verify v2 request failed');
      e = new TwilioError(500, 20500, 'Internal Server Error');
    }
    if (e.o.reason) logger.info({ error_code: e.code, reason: e.o.reason }, 'verify v2 request refused');
    const r = renderTwilioError(e);
    for (const [k, v] of Object.entries(r.headers)) res.setHeader(k, v);
    res.status(r.status).json(r.body);
  };
}
