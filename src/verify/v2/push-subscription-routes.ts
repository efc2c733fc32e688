import type { Request, Response, Router } from 'express';
import { HttpError } from '../../platform/errors.js';
import { parseSubscription } from '../onetouch/http-push-subscription.js';
import type { V2Context } from './context.js';
import { TwilioError } from './errors.js';
import type { SignerRow } from './push-store.js';
import { requiredParam } from './resources.js';

/** Longest `Subscription` parameter (JSON: an endpoint of at most 2048 bytes and two keys). */
export const MAX_SUBSCRIPTION_CHARS = 4096;

/** The `Subscription` parameter read as the OneTouch device API reads a subscription (endpoint rules, key checks, production egress). */
function subscriptionOf(req: Request, production: boolean) {
  const bad = (why: string) => new TwilioError(400, 60200, `Invalid parameter \`Subscription\`: ${why}`);
  const text = requiredParam(req, 'Subscription', MAX_SUBSCRIPTION_CHARS);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  try {
    return parseSubscription(json, { production });
  } catch (err) {
    if (err instanceof HttpError) throw bad(err.message.replace(/^invalid push subscription: /, ''));
    throw err;
  }
}

/**
 * `PUT` and `DELETE …/Factors/{YF}/PushSubscription` (a Twofold extension, docs/verify-v2.md
 * "Notifications"): the factor's own device, by a request its key signs (counted against the
 * factor's signed-request budget), sets, replaces or removes the one Web Push subscription a new
 * challenge of the factor is pushed to.
 */
export function pushSubscriptionRoutes(r: Router, c: V2Context, factorUrl: string, ownFactor: (req: Request, res: Response) => Promise<SignerRow>): void {
  r.put(`${factorUrl}/:fsid/PushSubscription`, async (req, res) => {
    const s = await ownFactor(req, res);
    const subscription = subscriptionOf(req, c.production);
    const at = await c.webPush.save(s.factor.sid, subscription);
    res.json({ factor_sid: s.factor.sid, date_updated: new Date(at).toISOString() });
  });
  r.delete(`${factorUrl}/:fsid/PushSubscription`, async (req, res) => {
    const s = await ownFactor(req, res);
    await c.webPush.remove(s.factor.sid);
    res.status(204).end();
  });
}
