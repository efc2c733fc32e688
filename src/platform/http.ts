import express, { type ErrorRequestHandler, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from './logger.js';
import { isDatabaseUnavailable } from './db.js';
import { HttpError } from './errors.js';

/**
 * The `{ code, message }` error middleware for the web app and the device API. Client mistakes
 * keep their status; anything else is logged with its cause and answered as a generic 500.
 */
export function jsonErrorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = toHttpError(err);
    if (e.status >= 500) logServerFailure(logger, routeOf(req), err, e);
    else if (e.options.reason) logger.info({ route: routeOf(req), error_code: e.code, reason: e.options.reason }, 'request refused');
    if (res.headersSent) return;
    const r = renderHttpError(e);
    for (const [k, v] of Object.entries(r.headers)) res.setHeader(k, v);
    res.status(r.status).json(r.body);
  };
}

/** An error as every JSON API of Twofold answers it: `{code, message, ...details}`. */
export function renderHttpError(e: HttpError): { status: number; headers: Record<string, string>; body: Record<string, unknown> } {
  return { status: e.status, headers: e.options.headers ?? {}, body: { code: e.code, message: e.message, ...(e.options.details ?? {}) } };
}

/**
 * Log a request answered 5xx: an unreachable database as a warning (it is expected during an
 * outage, and the message says why), anything else as an error with its stack.
 */
export function logServerFailure(logger: Logger, route: string, err: unknown, e: HttpError): void {
  if (e.status === 503) logger.warn({ route, err: String(err) }, 'request failed: database unavailable');
  else logger.error({ err, route }, 'request failed');
}

/**
 * Map body-parser and other framework errors to client errors, an unreachable database to 503,
 * everything unknown to a 500.
 */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  const e = err as { status?: number; statusCode?: number; type?: string; expose?: boolean } | undefined;
  const status = e?.status ?? e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    if (e?.type === 'entity.too.large') return new HttpError(413, 'PAYLOAD_TOO_LARGE', 'Request body too large');
    if (e?.type === 'entity.parse.failed') return new HttpError(400, 'MALFORMED_BODY', 'Request body is not valid JSON');
    if (e?.type === JSON_TOO_COMPLEX) return new HttpError(400, 'BODY_TOO_COMPLEX', `Request body is nested deeper than ${JSON_MAX_DEPTH} levels or holds more than ${JSON_MAX_ITEMS} values`);
    if (e?.type === 'charset.unsupported' || e?.type === 'encoding.unsupported')
      return new HttpError(415, 'UNSUPPORTED_ENCODING', 'Unsupported body encoding');
    return new HttpError(status, 'BAD_REQUEST', 'Bad request');
  }
  if (isDatabaseUnavailable(err)) {
    return new HttpError(503, 'UNAVAILABLE', 'Service temporarily unavailable; please try again', { headers: { 'Retry-After': '5' } });
  }
  return new HttpError(500, 'INTERNAL', 'Internal error');
}

/** The matched route pattern (never the raw URL: paths can carry tokens). */
export function routeOf(req: Request): string {
  const route = (req as Request & { route?: { path?: unknown } }).route;
  return `${req.method} ${req.baseUrl}${typeof route?.path === 'string' ? route.path : '(unmatched)'}`;
}

/**
 * A handler that may answer a request before Express (a status stream, the Authy API's GETs):
 * true when it has taken the request; false, and untouched, otherwise. A request it takes and then
 * cannot answer itself it hands to `fallback` (the Express app) as it arrived.
 */
export type EarlyHandler = (req: IncomingMessage, res: ServerResponse, fallback: (req: IncomingMessage, res: ServerResponse) => void) => boolean;

/** Access log: method, route pattern, status, duration. No URL, query, body or headers. */
export function accessLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    res.on('finish', () => logAccess(logger, routeOf(req), res, start));
    next();
  };
}

/**
 * The access log's line of one answer, once finished (`start` from `process.hrtime.bigint()` when
 * the request arrived). Also written for answers given before Express (the status stream).
 */
export function logAccess(logger: Logger, route: string, res: ServerResponse, start: bigint): void {
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  logger.info({ route, status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'http');
}

/** Number of trusted proxy hops → Express's `trust proxy` value (never `true`). */
export function trustProxySetting(hops: number): number | false {
  return hops > 0 ? hops : false;
}

/** JSON bodies may nest this deep (objects and arrays) and hold this many values in all. */
export const JSON_MAX_DEPTH = 32;
export const JSON_MAX_ITEMS = 2000;
const JSON_TOO_COMPLEX = 'entity.too.complex';

/**
 * Whether raw JSON text stays within the depth and value budgets. One pass over the bytes, before
 * anything parses or walks the body: a small body of deep nesting or many tiny values can cost
 * seconds and a stack overflow in whatever walks it recursively later (a signature check, a
 * validator), so it is refused in linear time first.
 */
export function jsonWithinBudget(raw: Buffer, maxDepth = JSON_MAX_DEPTH, maxItems = JSON_MAX_ITEMS): boolean {
  let depth = 0;
  let items = 0;
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) return false;
      items++;
    } else if (c === 0x7d || c === 0x5d) depth--;
    else if (c === 0x2c || c === 0x3a) {
      if (++items > maxItems) return false;
    }
  }
  return true;
}

/**
 * `express.json` with a size limit and the depth and value budgets (400 BODY_TOO_COMPLEX). Every
 * JSON body the process parses comes through here.
 */
export function boundedJson(o: { limit: string; type?: string | string[] | ((req: IncomingMessage) => boolean) }): RequestHandler {
  return express.json({
    limit: o.limit,
    type: o.type ?? 'application/json',
    verify: (_req, _res, buf) => {
      if (!jsonWithinBudget(buf)) throw Object.assign(new Error('JSON body over budget'), { status: 400, type: JSON_TOO_COMPLEX });
    },
  });
}
