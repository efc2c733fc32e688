import express, { type ErrorRequestHandler, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { sha256Hex } from '../platform/crypto.js';
import { logServerFailure, routeOf, toHttpError, boundedJson } from '../platform/http.js';
import type { Logger } from '../platform/logger.js';
import { HttpError } from '../platform/errors.js';
import { AuthyCode, AuthyError } from './authy-errors.js';

/** The application a request authenticated as. */
export interface AuthenticatedApp {
  id: number;
  name: string;
  callbackUrl: string | null;
}

export type ParamValue = string | ParamObject | ParamValue[];
export interface ParamObject {
  [key: string]: ParamValue;
}

declare module 'express-serve-static-core' {
  interface Request {
    /** Query, form body and JSON body merged (as Authy's clients send them). */
    authyParams?: ParamObject;
    authyApp?: AuthenticatedApp;
  }
}

/**
 * Body parsers for the Authy-compatible API: form (with bracket keys) and JSON, small limits.
 * Clients send bodies with GETs and parameters in the query of POSTs; both are merged.
 */
export function authyBodyParsers(): RequestHandler[] {
  return [
    boundedJson({ limit: '64kb', type: ['application/json', 'application/*+json'] }),
    express.urlencoded({ extended: true, limit: '64kb', parameterLimit: 200 }),
    (req, _res, next) => {
      req.authyParams = mergeParams(req.query, req.body);
      next();
    },
  ];
}

function normalise(v: unknown, depth = 0): ParamValue | undefined {
  if (depth > 6) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.map((x) => normalise(x, depth + 1)).filter((x): x is ParamValue => x !== undefined);
  if (v && typeof v === 'object') {
    const out: ParamObject = {};
    for (const [k, x] of Object.entries(v)) {
      const n = normalise(x, depth + 1);
      if (n !== undefined) out[k] = n;
    }
    return out;
  }
  return undefined;
}

/** Merge query and body (body wins), numbers and booleans as strings, nulls dropped. */
export function mergeParams(query: unknown, body: unknown): ParamObject {
  const q = normalise(query);
  const b = normalise(body);
  return {
    ...(q && typeof q === 'object' && !Array.isArray(q) ? q : {}),
    ...(b && typeof b === 'object' && !Array.isArray(b) ? b : {}),
  };
}

/** A string parameter or undefined (objects and arrays are not strings). */
export function param(p: ParamObject | undefined, name: string): string | undefined {
  const v = p?.[name];
  return typeof v === 'string' ? v : undefined;
}

/** An object parameter (`details[k]`) or undefined. */
export function paramObject(p: ParamObject | undefined, name: string): ParamObject | undefined {
  const v = p?.[name];
  return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
}

export function isTruthy(v: string | undefined): boolean {
  return v === 'true' || v === '1' || v === 'yes';
}

/** SHA-256 of an API key, as stored in `apps.api_key_hash`. */
export function hashApiKey(key: string): string {
  return sha256Hex(`twofold-api-key:${key}`);
}

export type AppLookup = (apiKeyHash: string) => Promise<AuthenticatedApp | undefined>;

/**
 * API key from header `X-Authy-API-Key`, query `api_key` or body `api_key`. Looked up by its
 * SHA-256 (the keys are 192-bit random, so a plain hash is enough).
 */
export function requireApiKey(lookup: AppLookup): RequestHandler {
  return async (req, _res, next) => {
    const app = await findApp(lookup, req.get('x-authy-api-key') ?? param(req.authyParams, 'api_key'));
    if (!app) throw invalidApiKey();
    req.authyApp = app;
    next();
  };
}

/**
 * The app a presented key belongs to, or undefined (no key, an overlong one, an unknown one). The
 * lookup is by SHA-256 of a 192-bit random key: the index lookup's timing tells only of hashes.
 */
export async function findApp(lookup: AppLookup, key: string | undefined): Promise<AuthenticatedApp | undefined> {
  return key && key.length <= 200 ? lookup(hashApiKey(key)) : undefined;
}

export function invalidApiKey(): AuthyError {
  return new AuthyError(401, AuthyCode.INVALID_API_KEY, 'Invalid API key', { reason: 'unknown or missing API key' });
}

/** Success in Authy's format: compact JSON with `success: true`. */
export function sendAuthy(res: Response, body: Record<string, unknown>, status = 200): void {
  res.status(status).type('application/json').send(JSON.stringify({ ...body, success: body['success'] ?? true }));
}

/**
 * Any failure as an `AuthyError`: framework errors become 400 `INVALID_REQUEST`, server failures
 * 503 (reported through `serverFailure` first).
 */
export function asAuthyError(err: unknown, serverFailure: (h: HttpError) => void): AuthyError {
  if (err instanceof AuthyError) return err;
  const h: HttpError = toHttpError(err);
  if (h.status >= 500) {
    serverFailure(h);
    return new AuthyError(503, AuthyCode.SERVICE_UNAVAILABLE, 'Service unavailable, try again later', { headers: { 'Retry-After': '5' } });
  }
  return new AuthyError(h.status === 413 ? 413 : 400, AuthyCode.INVALID_REQUEST, h.message === 'Bad request' ? 'Invalid request' : h.message);
}

/** An `AuthyError` as Authy answers it. */
export function renderAuthyError(e: AuthyError): { status: number; headers: Record<string, string>; body: Record<string, unknown> } {
  return {
    status: e.status,
    headers: e.extra.headers ?? {},
    body: { ...(e.extra.body ?? {}), message: e.message, success: false, errors: { message: e.message, ...(e.extra.errors ?? {}) }, error_code: e.errorCode },
  };
}

/** Error middleware of the Authy-compatible API. */
export function authyErrorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = asAuthyError(err, (h) => logServerFailure(logger, routeOf(req), err, h));
    if (e.extra.reason) logger.info({ route: routeOf(req), error_code: e.errorCode, reason: e.extra.reason }, 'authy request refused');
    if (res.headersSent) return;
    const r = renderAuthyError(e);
    for (const [k, v] of Object.entries(r.headers)) res.setHeader(k, v);
    res.status(r.status).type('application/json').send(JSON.stringify(r.body));
  };
}
