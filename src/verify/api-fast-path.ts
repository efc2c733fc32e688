import type { IncomingMessage, ServerResponse } from 'node:http';
import { match } from 'path-to-regexp';
import proxyaddr from 'proxy-addr';
import { logAccess, type EarlyHandler } from '../platform/http.js';
import type { Logger } from '../platform/logger.js';
import { renderFailure, successBody, type ApiAnswer, type ApiRoute } from './api.js';
import { findApp, invalidApiKey, mergeParams, param, type AppLookup, type ParamObject } from './authy-http.js';

export interface ApiFastPathOptions {
  /** TRUST_PROXY: the number of proxy hops whose `X-Forwarded-For` entries are believed (as Express's `trust proxy`). */
  trustProxyHops: number;
  /** The headers every answer carries (nosniff, referrer policy, HSTS in production). */
  responseHeaders?: ((res: ServerResponse) => void) | undefined;
}

/**
 * The Authy-compatible API's GET operations answered straight from `node:http`, before Express:
 * `GET /protected/json/verify/{token}/{id}` is the call every login of a relying app makes, and
 * Express's router, parsers and response helpers were a third of its CPU. The operation, the API
 * key check, the parameters, the caller's address (TRUST_PROXY honoured by the same `proxy-addr`
 * Express uses), the error bodies and the access log line are the same as through Express.
 *
 * Only what reads the same both ways is taken: a GET without a body whose path an operation
 * matches exactly and whose query is flat (`a=1&b=2`, each name once, no brackets). Anything else
 * (a body, bracket or repeated names, a trailing slash, another case, a bad escape) is left to
 * Express, which answers it as it always has.
 */
export function apiFastPath(routes: ApiRoute[], lookup: AppLookup, logger: Logger, o: ApiFastPathOptions): EarlyHandler {
  const matchers = routes
    .filter((r) => r.method === 'GET' && r.format === 'authy')
    .map((route) => ({ route, match: match(route.path, { decode: decodeURIComponent, sensitive: true, trailing: false }) }));
  const prefixes = [...new Set(matchers.map((m) => m.route.path.split('/').slice(0, 3).join('/') + '/'))];
  const hops = o.trustProxyHops;
  const trust = (_addr: string, i: number) => i < hops;

  return (req, res) => {
    if (req.method !== 'GET' || hasBody(req)) return false;
    const url = req.url ?? '';
    if (!prefixes.some((p) => url.startsWith(p))) return false;
    const q = url.indexOf('?');
    const query = q < 0 ? {} : flatQuery(url.slice(q + 1));
    if (!query) return false;
    const pathname = q < 0 ? url : url.slice(0, q);
    let found: { route: ApiRoute; path: Record<string, string> } | undefined;
    try {
      for (const m of matchers) {
        const r = m.match(pathname);
        if (r) {
          found = { route: m.route, path: r.params as Record<string, string> };
          break;
        }
      }
    } catch {
      return false; // a malformed escape: Express's answer
    }
    if (!found) return false;
    const start = process.hrtime.bigint();
    const { route, path } = found;
    const name = `GET ${route.path}`;
    o.responseHeaders?.(res);
    res.on('finish', () => logAccess(logger, name, res, start));
    const params = mergeParams(query, undefined);
    const ip = proxyaddr(req, trust);
    const userAgent = req.headers['user-agent'] ?? null;
    answer(route, params, path, ip, userAgent, req, lookup)
      .then((a) => send(res, a.status ?? 200, a.headers ?? {}, successBody(a, 'authy')))
      // A refusal, or a failure while making the answer: rendered as Express's error handler does.
      .catch((err: unknown) => {
        const f = renderFailure(err, 'authy', logger, name);
        send(res, f.status, f.headers, f.body);
      })
      // Sending the refusal itself failing (a socket gone mid-write) is never an unhandled rejection.
      .catch((err: unknown) => {
        logger.error({ err, route: name }, 'request failed');
        if (!res.headersSent) res.destroy();
      });
    return true;
  };
}

async function answer(route: ApiRoute, params: ParamObject, path: Record<string, string>, ip: string, userAgent: string | null, req: IncomingMessage, lookup: AppLookup): Promise<ApiAnswer> {
  const header = req.headers['x-authy-api-key'];
  const app = await findApp(lookup, typeof header === 'string' ? header : param(params, 'api_key'));
  if (!app) throw invalidApiKey();
  return route.op({ app, path, params, body: undefined, ip, userAgent });
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: Record<string, unknown>): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

const FLAT_NAME = /^[A-Za-z0-9_]{1,64}$/;
const PROTOTYPE_NAMES = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * `a=1&b=x%20y` as Express's query parser reads it (`+` is a space), or undefined where the two
 * could differ: a name with brackets, dots or escapes, a name twice (Express makes an array), a
 * malformed escape, or over 20 pairs.
 */
function flatQuery(text: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  const pairs = text.split('&');
  if (pairs.length > 20) return undefined;
  for (const pair of pairs) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    if (!FLAT_NAME.test(key) || PROTOTYPE_NAMES.has(key) || Object.hasOwn(out, key)) return undefined;
    try {
      out[key] = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1).replaceAll('+', ' '));
    } catch {
      return undefined;
    }
  }
  return out;
}
