import type { Router } from 'express';
import { forContext, type Platform } from '../../platform/context.js';
import { ExpiringMap } from '../../platform/expiring-map.js';
import type { AppLookup, AuthenticatedApp } from '../authy-http.js';
import type { CorePart, DeviceDirectory, WebhookSink } from '../ports.js';
import type { VerifyTables } from '../schema.js';
import { AppStore } from './apps.js';
import { Directory } from './directory.js';
import { devOutboxRoutes } from './dev-outbox.js';
import { SecondFactorLockout } from './lockout.js';
import { PhoneVerifications } from './phone-verification.js';
import { coreApi, coreRouter } from './routes.js';
import { SmsCodes } from './sms-codes.js';
import { SmsGate } from './sms-gate.js';
import { createSmsTransport, OutboxTransport, type SmsTransport } from './sms/index.js';
import { TotpSecrets } from './totp-secrets.js';
import { UserStore } from './users.js';
import { TokenVerifier } from './verification.js';
import { createVerifyV2 } from '../v2/index.js';

export { AppStore } from './apps.js';

export interface CoreOptions {
  /** Replaces the transport SMS_TRANSPORT names (tests). */
  smsTransport?: SmsTransport;
  /** Where Verify v2 webhooks go (OneTouch's callback outbox); without it none are sent. */
  webhooks?: WebhookSink;
}

/** The verification service core: apps, users, TOTP, SMS codes, phone verification. */
export function createCore(platform: Platform, devices: DeviceDirectory, o: CoreOptions = {}): CorePart {
  const p = forContext<VerifyTables>(platform);
  const db = p.db.db;
  const apps = new AppStore(db, p.clock);
  const users = new UserStore(db, p.clock);
  const totp = new TotpSecrets(p);
  const smsCodes = new SmsCodes(db, p.codeHasher, p.config.OTP_MAX_ATTEMPTS);
  const phoneVerifications = new PhoneVerifications(db, p.codeHasher, p.config.OTP_MAX_ATTEMPTS);
  const lockout = new SecondFactorLockout(db, { threshold: p.config.OTP_LOCKOUT_THRESHOLD, lockSeconds: p.config.OTP_LOCKOUT_SECONDS });
  const transport = o.smsTransport ?? createSmsTransport(p.config, p.clock);
  const gate = new SmsGate(p, transport);
  const verifier = new TokenVerifier(p, totp, smsCodes, lockout);
  const appLookup = cachedLookup((hash) => apps.findByKeyHash(hash), p.clock);
  const phoneCheckLimiter = p.limits.create({
    name: 'phone-verification:check',
    points: p.config.OTP_LOCKOUT_THRESHOLD,
    durationSeconds: p.config.OTP_LOCKOUT_SECONDS,
  });

  const v2 = createVerifyV2(p, gate, apps, o.webhooks);
  let sweeper: NodeJS.Timeout | undefined;

  const api = coreApi({ p, apps, appLookup, users, totp, smsCodes, phoneVerifications, gate, verifier, devices, phoneCheckLimiter });

  return {
    totp,
    appLookup,
    api,
    directory: new Directory(p),
    mount(router: Router) {
      router.use('/protected/json', coreRouter(api, appLookup, p.logger));
      router.use('/v2', v2.router);
      // Fail closed: the outbox pages show every code, so a production process never serves them.
      if (transport instanceof OutboxTransport && !p.config.production) router.use(devOutboxRoutes(transport, () => p.config.PUBLIC_URL));
    },
    async start() {
      // PUBLIC_URL is read now: without an explicit one it follows the address we listen on.
      sweeper = setInterval(() => void v2.sweep().catch((err: unknown) => p.logger.warn({ err }, 'verify v2 sweep failed')), 10 * 60 * 1000);
      sweeper.unref();
      await apps.ensureBuiltin({ name: p.config.APP_NAME, apiKey: p.config.appApiKey, callbackUrl: `${(p.config.APP_URL ?? p.config.PUBLIC_URL).replace(/\/+$/, '')}/authy/callback` });
      if (transport instanceof OutboxTransport && p.config.production) {
        p.logger.warn({ file: transport.file }, 'SMS_TRANSPORT=outbox in production: codes are only written to a file (no /dev/sms pages); set twilio or webhook');
      }
    },
    async stop() {
      if (sweeper) clearInterval(sweeper);
      await v2.stop();
    },
  };
}

/** How long a key's app is kept in memory: every request of an app presents its key. */
const KEY_CACHE_MS = 30_000;

/**
 * Apps found by their key's hash, kept for KEY_CACHE_MS (keys change only with a restart or a
 * new app). Unknown keys are never kept: a guesser cannot fill the memory, and a new app's key
 * works at once.
 */
function cachedLookup(lookup: AppLookup, clock: { now(): number }): AppLookup {
  const kept = new ExpiringMap<string, AuthenticatedApp>(clock, KEY_CACHE_MS);
  return async (hash) => {
    const hit = kept.get(hash);
    if (hit) return hit;
    const app = await lookup(hash);
    if (app) kept.set(hash, app);
    return app;
  };
}
