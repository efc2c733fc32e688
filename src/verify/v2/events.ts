import type { V2Context } from './context.js';
import type { ChallengeRow, EntityRow, FactorRow } from './factor-store.js';
import type { EventType, V2Event } from './webhook-store.js';

/** The event of `type` about `f` (and `ch`) of entity `e`, for the app `app`. */
export function eventOf(type: EventType, app: { id: number; accountSid: string }, e: EntityRow, f: FactorRow, ch?: ChallengeRow): V2Event {
  return {
    type,
    appId: app.id,
    accountSid: app.accountSid,
    serviceSid: e.service_sid,
    identity: e.identity,
    factor: { sid: f.sid, type: f.factor_type, friendlyName: f.friendly_name, status: f.status },
    ...(ch ? { challenge: { sid: ch.sid, status: ch.status, details: ch.details, hiddenDetails: ch.hidden_details, metadata: ch.metadata } } : {}),
  };
}

/**
 * Mark the challenges past their expiry as expired, each with its `challenge.expired` event in
 * the same transaction (run by the sweep, and before a service's challenges are read).
 */
export async function expireChallenges(c: V2Context, serviceSid?: string): Promise<number> {
  let n = 0;
  for (const d of await c.factors.dueToExpire(serviceSid)) {
    const done = await c.db.transaction().execute(async (trx) => {
      if (!(await c.factors.expireChallenge(d.sid, trx))) return false;
      await c.webhooks.emit(trx, {
        type: 'challenge.expired',
        appId: d.app_id,
        accountSid: d.account_sid,
        serviceSid: d.service_sid,
        identity: d.identity,
        factor: { sid: d.factor_sid, type: d.factor_type, friendlyName: d.factor_name, status: d.factor_status },
        challenge: { sid: d.sid, status: 'expired', details: d.details, hiddenDetails: d.hidden_details, metadata: d.metadata },
      });
      return true;
    });
    if (done) n++;
  }
  if (n > 0) c.webhooks.kick();
  return n;
}
