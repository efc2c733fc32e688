import { forContext, type Platform } from '../../platform/context.js';
import type { OneTouchTables } from '../schema-onetouch.js';
import { hashApiKey, type AppLookup } from '../authy-http.js';
import type { OneTouchPart, ServiceDirectory, TotpSecretStore } from '../ports.js';
import { Approvals } from './approvals.js';
import { CallbackWorker } from './callbacks.js';
import { Devices } from './devices.js';
import { appDeviceApi } from './app-devices-api.js';
import { oneTouchApi, oneTouchRouter } from './http-authy.js';
import { deviceApiRouter } from './http-devices.js';
import { PushNotifier } from './push-notifier.js';
import { PushSubscriptions } from './push-subscriptions.js';
import { storeAppSigningKey } from './signing-keys.js';
import { DeviceStreams } from './stream.js';
import { webhookSink } from './webhook-sink.js';

export { storeAppSigningKey } from './signing-keys.js';

/** Expiry sweep, nonce pruning and the callback outbox's purge run this often. */
const MAINTENANCE_INTERVAL_MS = 5_000;

/**
 * OneTouch (push approvals) and authenticator devices: the Authy-compatible approval endpoints,
 * the device API under /v1 and the callback outbox worker.
 */
export function createOneTouch(platform: Platform, deps: { totp: TotpSecretStore; appLookup: AppLookup; directory: ServiceDirectory }): OneTouchPart {
  const p = forContext<OneTouchTables>(platform);
  const { directory } = deps;
  const devices = new Devices(p, deps.totp, directory);
  const worker = new CallbackWorker(p, directory);
  const pushSubscriptions = new PushSubscriptions(p);
  const push = new PushNotifier(p, pushSubscriptions, directory);
  const approvals = new Approvals(p, devices, directory, () => worker.kick(), (userId, uuid) => push.approvalCreated(userId, uuid));
  const streams = new DeviceStreams(p, approvals);
  let maintenance: NodeJS.Timeout | undefined;

  const maintain = async () => {
    try {
      await approvals.expireDue();
      await devices.prune();
    } catch (err) {
      p.logger.warn({ err }, 'onetouch maintenance failed');
    }
    try {
      // Delivered callbacks older than 7 days, given-up ones older than 30 (bounded batches).
      const purged = await worker.purge();
      if (purged > 0) p.logger.info({ purged }, 'old callbacks purged from the outbox');
    } catch (err) {
      p.logger.warn({ err }, 'callback outbox purge failed');
    }
  };

  const approvalOps = oneTouchApi(p, { directory, approvals, devices });
  const appOps = appDeviceApi(p, { directory, devices, totp: deps.totp });

  return {
    devices,
    webhooks: webhookSink(p, () => worker.kick()),
    api: [...approvalOps, ...appOps],
    mount(router) {
      router.use('/onetouch/json', oneTouchRouter(approvalOps, deps.appLookup, p.logger));
      router.use('/v1', deviceApiRouter(p, { appLookup: deps.appLookup, appOps, devices, approvals, streams, pushSubscriptions }));
    },
    async start() {
      // The built-in app's key is known to this process: keep it sealed for callback signing.
      const found = await deps.appLookup(hashApiKey(p.config.appApiKey));
      const builtin = found && (await directory.apps([found.id])).get(found.id);
      if (builtin?.builtin) await storeAppSigningKey(p, builtin.id, p.config.appApiKey);
      worker.start();
      maintenance = setInterval(() => void maintain(), MAINTENANCE_INTERVAL_MS);
      maintenance.unref();
    },
    async stop() {
      if (maintenance) clearInterval(maintenance);
      streams.closeAll();
      await push.stop();
      await worker.stop();
    },
  };
}
