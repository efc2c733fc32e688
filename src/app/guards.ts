import type { Request, RequestHandler } from 'express';
import type { Config } from '../platform/config.js';
import { HttpError } from '../platform/errors.js';
import type { Session, SessionStore } from './sessions.js';
import { readSessionCookie } from './sessions.js';
import { AppError } from './error-codes.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** The web app session of this request, set by `loadSession`. */
    appSession?: Session;
  }
}

/**
 * CSRF defence for state-changing requests: the body must be JSON (a cross-site form cannot send
 * that without a CORS preflight) and `Origin` must be this site's (PUBLIC_URL's origin, or the one
 * the Host header implies).
 */
export function requireJsonAndOrigin(config: Config): RequestHandler {
  return (req, _res, next) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') {
      return next(new HttpError(403, AppError.CSRF, 'State-changing requests must send Content-Type: application/json', { reason: 'content-type' }));
    }
    const origin = req.headers.origin;
    if (!origin || !allowedOrigins(config, req).includes(origin)) {
      return next(new HttpError(403, AppError.CSRF, 'Cross-origin request refused', { reason: origin ? 'origin mismatch' : 'no origin' }));
    }
    next();
  };
}

function allowedOrigins(config: Config, req: Request): string[] {
  const out: string[] = [];
  try {
    out.push(new URL(config.PUBLIC_URL).origin);
  } catch {
    /* PUBLIC_URL is validated at start */
  }
  const host = req.headers.host;
  if (host && /^[A-Za-z0-9.\-:[\]]+$/.test(host)) out.push(`${req.protocol}://${host}`);
  return out;
}

/** Attach the session (if any) named by the cookie. */
export function loadSession(store: SessionStore, cookieName: string): RequestHandler {
  return async (req, _res, next) => {
    const token = readSessionCookie(req, cookieName);
    if (token) req.appSession = await store.find(token);
    next();
  };
}

/** Logged in with both factors. A half-logged-in session is refused like no session. */
export const requireFullSession: RequestHandler = (req, _res, next) => {
  if (req.appSession?.state !== 'full') return next(new HttpError(401, AppError.UNAUTHENTICATED, 'Please log in'));
  next();
};

/**
 * A second factor in progress: a half session's login (password accepted), or a full session's
 * step-up. Only the second-factor routes take these.
 */
export const requireSecondFactorSession: RequestHandler = (req, _res, next) => {
  if (!req.appSession?.loginAttemptId) {
    return next(new HttpError(401, AppError.UNAUTHENTICATED, 'No login in progress; please log in'));
  }
  next();
};

/**
 * Factor changes: the session proved the password and a second factor within the last
 * REAUTH_WINDOW_MS (at login, signup or `POST /session/reauth`); otherwise 403 REAUTH_REQUIRED.
 */
export function requireRecentAuth(sessions: SessionStore): RequestHandler {
  return (req, _res, next) => {
    const s = req.appSession;
    if (!s || sessions.reauthUntil(s) === null) {
      return next(new HttpError(403, AppError.REAUTH_REQUIRED, 'Please confirm it is you: enter your password and approve or type a code', { details: { reauth: '/session/reauth' } }));
    }
    next();
  };
}

/** A `return_to`/`next` target accepted only as a same-origin path: `/x`, never `//x` or `/\x`. */
export function safeReturnTo(target: unknown, fallback = '/'): string {
  if (typeof target !== 'string' || target.length > 512) return fallback;
  if (!target.startsWith('/') || target.startsWith('//') || target.startsWith('/\\')) return fallback;
  // Control characters (browsers strip tabs/newlines, turning "/\t/evil" into "//evil").
  if (/[\u0000-\u001f\u007f\\]/.test(target)) return fallback;
  return target;
}
