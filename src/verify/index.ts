import { Router } from 'express';
import type { Platform } from '../platform/context.js';

/** The verification service (Authy's role): its routes and background workers. */
export interface VerifyService {
  router: Router;
  /** Called once the server listens; `baseUrl` is this process's own origin. */
  start(baseUrl: string): Promise<void>;
  stop(): Promise<void>;
}

export function createVerifyService(_p: Platform): VerifyService {
  const router = Router();
  return { router, start: async () => {}, stop: async () => {} };
}
