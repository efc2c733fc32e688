import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { Router } from 'express';
import type { Logger } from '../platform/logger.js';
import { packageRoot } from '../platform/package-root.js';

/** Client-side routes of the SPA; a browser loading one of them directly gets index.html. */
export const SPA_ROUTES = ['/', '/signup', '/login', '/login/approve', '/login/code', '/account', '/password/forgot', '/password/reset', '/signup/verify-email', '/account/email'];

const CSP = [
  "default-src 'self'",
  "img-src 'self' data:",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The built front ends (`web/dist`): the SPA at `/`, the authenticator PWA at `/authenticator/`.
 * With `authenticatorOnly` (the service running apart) only the PWA and its assets: the PWA must
 * share the device API's origin.
 */
export function staticRoutes(
  logger: Logger,
  distDir = join(packageRoot(), 'web/dist'),
  o: { authenticatorOnly?: boolean } = {},
): Router {
  const r = Router();
  if (o.authenticatorOnly) {
    r.use((req, _res, next) => {
      const ok = req.path === '/authenticator' || req.path.startsWith('/authenticator/') || req.path.startsWith('/assets/') || req.path === '/favicon.svg';
      next(ok ? undefined : 'router');
    });
  }
  const index = join(distDir, 'index.html');
  if (!existsSync(index)) {
    logger.warn({ dir: distDir }, 'web/dist is missing: run `npm run build:web` to serve the front ends');
    return r;
  }
  r.use(
    express.static(distDir, {
      index: 'index.html',
      redirect: true,
      setHeaders(res, path) {
        if (path.endsWith('.html')) {
          res.setHeader('Cache-Control', 'no-cache');
          res.setHeader('Content-Security-Policy', CSP);
          res.setHeader('X-Frame-Options', 'DENY');
        } else if (path.includes(`${join(distDir, 'assets')}`)) {
          res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
        } else if (path.endsWith('sw.js')) {
          res.setHeader('Cache-Control', 'no-cache');
        }
      },
    }),
  );
  if (o.authenticatorOnly) return r;
  r.get(SPA_ROUTES, (req, res, next) => {
    if (!(req.get('accept') ?? '').includes('text/html')) return next();
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('Content-Security-Policy', CSP);
    res.setHeader('X-Frame-Options', 'DENY');
    res.sendFile(index);
  });
  return r;
}
