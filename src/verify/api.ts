import type { Request, RequestHandler, Response, Router } from 'express';
import { match } from 'path-to-regexp';
import { HttpError } from '../platform/errors.js';
import { logServerFailure, renderHttpError, toHttpError } from '../platform/http.js';
import type { Logger } from '../platform/logger.js';
import { invalidDeviceApiKey } from './onetouch/errors.js';
import { asAuthyError, findApp, invalidApiKey, mergeParams, renderAuthyError, type AppLookup, type AuthenticatedApp, type ParamObject } from './authy-http.js';

/**
 * The service's API for relying apps as operations: each takes what a request carries and
 * answers a status and a JSON body. The same operation serves two bindings:
 * - HTTP (`mountApi`): Express parses the request, the operation runs, Express sends the answer.
 * - In-process (`ApiExchange`): the web app of the same process calls the operation directly,
 *   with the same parameters, the same API key check and the same error bodies, without a socket.
 */
export interface ApiCall {
  app: AuthenticatedApp;
  /** Path parameters (`:id`). */
  path: Record<string, string>;
  /** Query and body merged, as Authy's clients send them (body wins). */
  params: ParamObject;
  /** The JSON body alone (the device API's app routes read only the body). */
  body: unknown;
  /** The caller's address: the request's, or the local process's in-process. */
  ip: string | null;
  userAgent: string | null;
}

export interface ApiAnswer {
  status?: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

/**
 * `authy`: the Authy-compatible format (`success`, `error_code`, form or JSON bodies).
 * `device`: the device API's format (`{code, message}` errors, JSON bodies).
 */
export type ApiFormat = 'authy' | 'device';

export interface ApiRoute {
  method: 'GET' | 'POST' | 'DELETE';
  /** Full path, e.g. `/protected/json/verify/:token/:id`. */
  path: string;
  format: ApiFormat;
  op: (call: ApiCall) => Promise<ApiAnswer>;
}

/** What an operation's failure answers: status, headers and body, as each format's error handler renders it. */
export function renderFailure(err: unknown, format: ApiFormat, logger: Logger, route: string): Required<ApiAnswer> {
  const serverFailure = (h: HttpError) => logServerFailure(logger, route, err, h);
  if (format === 'device') {
    const e = toHttpError(err);
    if (e.status >= 500) serverFailure(e);
    else if (e.options.reason) logger.info({ route, error_code: e.code, reason: e.options.reason }, 'request refused');
    return renderHttpError(e);
  }
  const e = asAuthyError(err, serverFailure);
  if (e.extra.reason) logger.info({ route, error_code: e.errorCode, reason: e.extra.reason }, 'authy request refused');
  return renderAuthyError(e);
}

/** A success as each format sends it (Authy's adds `success: true`). */
export function successBody(a: ApiAnswer, format: ApiFormat): Record<string, unknown> {
  return format === 'authy' ? { ...a.body, success: a.body['success'] ?? true } : a.body;
}

/** The app a key belongs to; the same refusal as the HTTP binding's key check otherwise. */
async function appFor(lookup: AppLookup, key: string, format: ApiFormat): Promise<AuthenticatedApp> {
  const app = await findApp(lookup, key);
  if (app) return app;
  throw format === 'device' ? invalidDeviceApiKey() : invalidApiKey();
}

/**
 * The HTTP binding of one operation: the handler at the end of its router, after the router's
 * parsers and API key check (which set `req.authyApp` or `req.deviceApiApp`, and `req.authyParams`).
 * Failures go on to the router's error handler, which renders them as `renderFailure` does.
 */
export function expressHandler(route: ApiRoute): RequestHandler {
  return async (req: Request, res: Response) => {
    const app = req.authyApp ?? req.deviceApiApp;
    if (!app) throw new Error('the API key check must run first');
    const answer = await route.op({ app, path: req.params as Record<string, string>, params: req.authyParams ?? {}, body: req.body, ip: req.ip ?? null, userAgent: req.get('user-agent') ?? null });
    for (const [k, v] of Object.entries(answer.headers ?? {})) res.setHeader(k, v);
    res.status(answer.status ?? 200).type('application/json').send(JSON.stringify(successBody(answer, route.format)));
  };
}

/** Register operations whose paths start with `prefix` on the router mounted there, each after `before`. */
export function mountOps(router: Router, prefix: string, routes: ApiRoute[], ...before: RequestHandler[]): void {
  for (const route of routes) {
    if (!route.path.startsWith(prefix)) continue;
    const path = route.path.slice(prefix.length);
    const handler = expressHandler(route);
    if (route.method === 'GET') router.get(path, ...before, handler);
    else if (route.method === 'POST') router.post(path, ...before, handler);
    else router.delete(path, ...before, handler);
  }
}

/** An exchange with the service as an HTTP client sees it. */
export interface ApiReply {
  status: number;
  body: unknown;
  retryAfter: string | undefined;
}

/**
 * The in-process binding: the web app's client hands its request here instead of to a socket.
 * Parameters are read as the HTTP binding reads them (query and JSON body merged), the key is
 * checked the same way, and failures have the same bodies; only the bytes on the wire are gone.
 */
export class ApiExchange {
  private readonly matchers: { route: ApiRoute; match: ReturnType<typeof match> }[];

  constructor(
    routes: ApiRoute[],
    private readonly lookup: AppLookup,
    private readonly logger: Logger,
  ) {
    this.matchers = routes.map((route) => ({ route, match: match(route.path, { decode: decodeURIComponent }) }));
  }

  async exchange(method: 'GET' | 'POST' | 'DELETE', pathAndQuery: string, json: Record<string, unknown> | undefined, apiKey: string): Promise<ApiReply> {
    const url = new URL(pathAndQuery, 'http://in-process');
    for (const { route, match: m } of this.matchers) {
      if (route.method !== method) continue;
      const found = m(url.pathname);
      if (!found) continue;
      const query = Object.fromEntries(url.searchParams);
      // The same parameters the HTTP binding would see, and no object shared with the caller.
      const body: unknown = json === undefined ? undefined : JSON.parse(JSON.stringify(json));
      try {
        const app = await appFor(this.lookup, apiKey, route.format);
        const answer = await route.op({
          app,
          path: found.params as Record<string, string>,
          params: route.format === 'authy' ? mergeParams(query, body) : {},
          body,
          ip: LOCAL_CALLER,
          userAgent: null,
        });
        return { status: answer.status ?? 200, body: successBody(answer, route.format), retryAfter: answer.headers?.['Retry-After'] };
      } catch (err) {
        const failed = renderFailure(err, route.format, this.logger, `${method} ${route.path}`);
        return { status: failed.status, body: failed.body, retryAfter: failed.headers['Retry-After'] };
      }
    }
    return { status: 404, body: { code: 'NOT_FOUND', message: 'Not found' }, retryAfter: undefined };
  }
}

/** The address an in-process call is recorded from: the process itself. */
export const LOCAL_CALLER = '127.0.0.1';
