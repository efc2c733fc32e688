import { Router } from 'express';
import type { Platform } from '../platform/context.js';

export interface WebAppOptions {
  /** Base URL of the verification service (VERIFY_URL, or this process's own origin). */
  verifyBaseUrl: () => string;
  /** The app's API key at the verification service. */
  apiKey: string;
}

/** The tutorial's web app: its routes, the SPA and the authenticator PWA assets. */
export interface WebApp {
  router: Router;
  start(baseUrl: string): Promise<void>;
  stop(): Promise<void>;
}

export function createWebApp(_p: Platform, _o: WebAppOptions): WebApp {
  const router = Router();
  return { router, start: async () => {}, stop: async () => {} };
}
