import type { Limiter } from '../../platform/rate-limit.js';
import type { Mailer } from '../../platform/mail/index.js';
import type { Logger } from '../../platform/logger.js';
import type { SmsGate } from '../core/sms-gate.js';
import type { Services } from './service-store.js';
import type { Verifications } from './verifications.js';
import type { FactorStore } from './factor-store.js';
import type { Clock } from '../../platform/clock.js';
import type { Kysely } from 'kysely';
import type { CoreDatabase } from '../schema.js';
import type { Webhooks } from './webhook-store.js';
import type { PushStore } from './push-store.js';
import type { VerifyPushNotifier } from './push-notify.js';

/** The app a request authenticated as (HTTP Basic: Account SID and API key). */
export interface V2App {
  id: number;
  name: string;
  accountSid: string;
}

declare module 'express-serve-static-core' {
  interface Request {
    v2App?: V2App;
  }
}

export interface V2Context {
  services: Services;
  verifications: Verifications;
  factors: FactorStore;
  webhooks: Webhooks;
  db: Kysely<CoreDatabase>;
  /** Codes tried on one factor: 5 per 10 minutes. */
  factorTries: Limiter;
  clock: Clock;
  gate: SmsGate;
  mail: Mailer;
  /** 5 sends per service and destination per 10 minutes. */
  sendLimit: Limiter;
  /** Codes mailed to one address per hour, across services and apps. */
  emailLimit: Limiter;
  findApp: (apiKeyHash: string) => Promise<V2App | undefined>;
  logger: Logger;
  /** Push factors: access tokens, keys, nonces, the device's answers. */
  push: PushStore;
  /** Access tokens made for one entity: 10 per 10 minutes. */
  tokenLimit: Limiter;
  /** Refused device requests (bad token or signature, replayed nonce) per client network: 30 per 10 minutes. */
  pushFailures: Limiter;
  /** Signed requests per push factor (each stores a nonce): PUSH_REQUESTS_PER_FACTOR per 10 minutes. */
  pushRequests: Limiter;
  /** Push factors' Web Push subscriptions and the push of each new challenge (a Twofold extension). */
  webPush: VerifyPushNotifier;
  /** Whether this is a production process (push endpoints must then be public). */
  production: boolean;
  /** The address resources' `url`s start with (PUBLIC_URL). */
  baseUrl: () => string;
}
