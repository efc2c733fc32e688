import type { Router } from 'express';
import type { CorePlatform } from '../schema.js';
import type { AppStore } from '../core/apps.js';
import type { SmsGate } from '../core/sms-gate.js';
import type { WebhookSink } from '../ports.js';
import { Webhooks } from './webhook-store.js';
import { expireChallenges } from './events.js';
import type { V2Context } from './context.js';
import { SMS_WINDOW_SECONDS } from '../core/sms-gate.js';
import { verifyV2Router } from './routes.js';
import { Services } from './service-store.js';
import { Verifications } from './verifications.js';
import { FactorStore } from './factor-store.js';
import { PushStore } from './push-store.js';
import { VerifyPushNotifier } from './push-notify.js';
import { WebPushSender } from '../web-push.js';
import { PUSH_FAILURES_PER_NETWORK, PUSH_REQUESTS_PER_FACTOR, TOKENS_PER_ENTITY } from './push-auth.js';

/** Sends to one destination of one service per 10 minutes (Verify's limit; the 6th is 60203). */
export const SENDS_PER_DESTINATION = 5;
/** Codes mailed to one address per hour, whichever services or apps ask. */
export const EMAILS_PER_ADDRESS = 10;

/** The Verify v2-compatible API of the service (docs/verify-v2.md): its router and its sweep. */
export function createVerifyV2(p: CorePlatform, gate: SmsGate, apps: AppStore, sink?: WebhookSink): { router: Router; sweep: () => Promise<void>; stop: () => Promise<void> } {
  const db = p.db.db;
  const verifications = new Verifications(db, p.clock, p.secretBox);
  const c: V2Context = {
    services: new Services(db, p.clock),
    verifications,
    factors: new FactorStore(db, p.clock, p.secretBox),
    webhooks: new Webhooks(db, p.clock, sink),
    db,
    factorTries: p.limits.create({ name: 'v2:factor:tries', points: 5, durationSeconds: 10 * 60 }),
    clock: p.clock,
    gate,
    mail: p.mail,
    sendLimit: p.limits.create({ name: 'v2:send:to', points: SENDS_PER_DESTINATION, durationSeconds: SMS_WINDOW_SECONDS }),
    emailLimit: p.limits.create({ name: 'v2:email:to', points: EMAILS_PER_ADDRESS, durationSeconds: 3600 }),
    findApp: (hash) => apps.findWithAccountSid(hash),
    logger: p.logger,
    push: new PushStore(db, p.clock),
    tokenLimit: p.limits.create({ name: 'v2:push:tokens', points: TOKENS_PER_ENTITY, durationSeconds: 10 * 60 }),
    pushFailures: p.limits.create({ name: 'v2:push:failures', points: PUSH_FAILURES_PER_NETWORK, durationSeconds: 10 * 60 }),
    pushRequests: p.limits.create({ name: 'v2:push:requests', points: PUSH_REQUESTS_PER_FACTOR, durationSeconds: 10 * 60 }),
    webPush: new VerifyPushNotifier({ db, clock: p.clock, secretBox: p.secretBox, logger: p.logger }, new WebPushSender(p)),
    production: p.config.production,
    baseUrl: () => p.config.PUBLIC_URL,
  };
  return {
    router: verifyV2Router(c, p.config.production),
    async sweep() {
      await verifications.sweep();
      await expireChallenges(c);
      await c.factors.sweep();
      await c.push.sweep();
    },
    stop: () => c.webPush.stop(),
  };
}
