import type { ServerResponse } from 'node:http';
import { Router } from 'express';
import type { Platform } from '../platform/context.js';
import type { EarlyHandler } from '../platform/http.js';
import { ApiExchange } from './api.js';
import { apiFastPath } from './api-fast-path.js';
import { createCore } from './core/index.js';
import { createOneTouch } from './onetouch/index.js';

/** The verification service (Authy's role): its routes and background workers. */
export interface VerifyService {
  router: Router;
  /** The API for relying apps, for a web app in this process to call without a socket. */
  exchange: ApiExchange;
  /** The Authy-compatible API's GET operations, answered before Express (`apiFastPath`). */
  tryServeApi: EarlyHandler;
  /** Called once the server listens; `baseUrl` is this process's own origin. */
  start(baseUrl: string): Promise<void>;
  stop(): Promise<void>;
}

export function createVerifyService(p: Platform, o: { responseHeaders?: ((res: ServerResponse) => void) | undefined } = {}): VerifyService {
  // The core needs to know about devices (SMS "ignored", user status) and OneTouch needs the
  // core's TOTP secrets and API key lookup: the directory is handed over lazily.
  let devices: import('./ports.js').DeviceDirectory | undefined;
  let webhooks: import('./ports.js').WebhookSink | undefined;
  const core = createCore(
    p,
    { activeDevices: (userId) => (devices ? devices.activeDevices(userId) : Promise.resolve([])) },
    {
      webhooks: {
        enqueue: (trx, w) => (webhooks ? webhooks.enqueue(trx, w) : Promise.reject(new Error('webhooks are not wired'))),
        kick: () => webhooks?.kick(),
      },
    },
  );
  const onetouch = createOneTouch(p, { totp: core.totp, appLookup: core.appLookup, directory: core.directory });
  devices = onetouch.devices;
  webhooks = onetouch.webhooks;
  const router = Router();
  core.mount(router);
  onetouch.mount(router);
  const api = [...core.api, ...onetouch.api];
  return {
    router,
    exchange: new ApiExchange(api, core.appLookup, p.logger),
    tryServeApi: apiFastPath(api, core.appLookup, p.logger, { trustProxyHops: p.config.TRUST_PROXY, responseHeaders: o.responseHeaders }),
    async start(baseUrl) {
      await core.start(baseUrl);
      await onetouch.start(baseUrl);
    },
    async stop() {
      await onetouch.stop();
      await core.stop();
    },
  };
}
