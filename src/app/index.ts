import type { ServerResponse } from 'node:http';
import { Router } from 'express';
import { forContext, type Platform } from '../platform/context.js';
import { jsonErrorHandler } from '../platform/http.js';
import { AuthyClient, type ServiceTransport } from './authy-client.js';
import { CallbackNonces } from './callback-nonces.js';
import { LoginAttempts } from './login-attempts.js';
import { EmailChanges } from './email-changes.js';
import { PhoneChanges } from './phone-changes.js';
import { PasswordResets } from './password-resets.js';
import { Passkeys } from './passkeys.js';
import { RememberedBrowsers } from './remembered-browsers.js';
import { PendingSignups } from './pending-signups.js';
import { RecoveryCodes } from './recovery-codes.js';
import { dummyHash } from './passwords.js';
import type { AppTables } from './schema.js';
import { appRoutes } from './routes/index.js';
import type { StatusStreamHook } from './routes/status-stream.js';
import { SessionStore } from './sessions.js';
import { staticRoutes } from './static.js';

export interface WebAppOptions {
  /** Base URL of the verification service (VERIFY_URL, or this process's own origin). */
  verifyBaseUrl: () => string;
  /** The app's API key at the verification service. */
  apiKey: string;
  /** The service of this process, called directly; without it the app uses HTTP to `verifyBaseUrl`. */
  transport?: ServiceTransport | undefined;
  /**
   * Sets the headers the process adds to every answer (its Express middleware does it for the
   * others), on the status streams answered before Express.
   */
  responseHeaders?: ((res: ServerResponse) => void) | undefined;
}

/** The tutorial's web app: its routes, the SPA and the authenticator PWA assets. */
export interface WebApp {
  router: Router;
  /**
   * Call first for every request of the HTTP server (before `router`'s Express app, which it is
   * given as `fallback`): answers a browser's status stream (`GET /authy/status` as events) itself
   * and returns true; false for any other request, which it leaves untouched.
   */
  tryServeStatusStream: StatusStreamHook;
  start(baseUrl: string): Promise<void>;
  stop(): Promise<void>;
}

export function createWebApp(platform: Platform, o: WebAppOptions): WebApp {
  const p = forContext<AppTables>(platform);
  const client = new AuthyClient({ baseUrl: o.verifyBaseUrl, apiKey: o.apiKey, transport: o.transport });
  const sessions = new SessionStore(p.db.db, p.clock, p.config);
  const attempts = new LoginAttempts(p.db.db, p.clock);
  const recovery = new RecoveryCodes(p.db, p.codeHasher, p.clock);
  const pending = new PendingSignups(p.db.db, p.clock);
  const nonces = new CallbackNonces(p.db.db, p.clock);
  const resets = new PasswordResets(p.db.db, p.clock);
  const remembered = new RememberedBrowsers(p.db.db, p.clock, p.config);
  const emailChanges = new EmailChanges(p.db.db, p.clock);
  const phoneChanges = new PhoneChanges(p.db.db, p.clock);
  const passkeys = new Passkeys(p.db.db, p.clock, p.db.kind);
  const streams = new Set<() => void>();
  const router = Router();
  const routes = appRoutes({ p, client, sessions, attempts, recovery, pending, resets, remembered, emailChanges, phoneChanges, passkeys, apiKey: o.apiKey, streams }, { responseHeaders: o.responseHeaders });
  router.use(routes.router);
  router.use(staticRoutes(p.logger));
  // Errors of the routes above only (the verification service has its own handlers).
  router.use(jsonErrorHandler(p.logger));
  let sweeper: NodeJS.Timeout | undefined;
  return {
    router,
    tryServeStatusStream: routes.tryServeStatusStream,
    async start() {
      await dummyHash();
      const sweep = async () => {
        try {
          await sessions.sweep();
          await attempts.sweep();
          await pending.sweep();
          await nonces.sweep();
          await resets.sweep();
          await remembered.sweep();
          await emailChanges.sweep();
          await phoneChanges.sweep();
          await passkeys.sweep();
        } catch (err) {
          p.logger.warn({ err }, 'web app sweep failed');
        }
      };
      sweeper = setInterval(() => void sweep(), 10 * 60 * 1000);
      sweeper.unref();
    },
    async stop() {
      if (sweeper) clearInterval(sweeper);
      for (const close of [...streams]) close();
      client.close();
    },
  };
}
