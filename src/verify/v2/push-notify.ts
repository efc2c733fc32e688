import type { Kysely } from 'kysely';
import type { Clock } from '../../platform/clock.js';
import { SecretBox } from '../../platform/crypto.js';
import type { Logger } from '../../platform/logger.js';
import type { PushDetails } from '../../protocol/verify-push.js';
import type { CoreDatabase } from '../schema.js';
import type { WebPushSender, WebPushSubscription } from '../web-push.js';
import type { ChallengeRow, EntityRow, FactorRow } from './factor-store.js';

/** Longest `message` a challenge's push carries (the card shows the whole of it). */
export const PUSH_MESSAGE_MAX = 200;

/**
 * What the push of a Verify challenge carries: enough for a notification and to open the
 * factor's challenge list, nothing more (no fields, no hidden details, no signature material).
 */
export interface VerifyChallengePush {
  type: 'verify_challenge';
  service_sid: string;
  factor_sid: string;
  challenge_sid: string;
  message: string;
}

interface Stored {
  subscription: WebPushSubscription;
  sealed: string;
}

const ad = (factorSid: string) => SecretBox.associatedData('verify_v2_push_subscriptions', 'subscription', factorSid);

/**
 * The Web Push subscriptions of push factors' devices (a Twofold extension, docs/verify-v2.md
 * "Notifications"): one per factor, sealed at rest; and the push a new challenge sends to it,
 * after its creation is committed, once, never failing or holding up the app's call.
 */
export class VerifyPushNotifier {
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly p: { db: Kysely<CoreDatabase>; clock: Clock; secretBox: SecretBox; logger: Logger },
    private readonly sender: WebPushSender,
  ) {}

  /** Store (or replace) the factor's subscription. */
  async save(factorSid: string, subscription: WebPushSubscription): Promise<number> {
    const now = this.p.clock.now();
    const sealed = this.p.secretBox.seal(Buffer.from(JSON.stringify(subscription), 'utf8'), ad(factorSid));
    await this.p.db
      .insertInto('verify_v2_push_subscriptions')
      .values({ factor_sid: factorSid, sealed, created_at: now, updated_at: now })
      .onConflict((oc) => oc.column('factor_sid').doUpdateSet({ sealed, updated_at: now }))
      .execute();
    return now;
  }

  /** Remove the factor's subscription; true when there was one. */
  async remove(factorSid: string): Promise<boolean> {
    const r = await this.p.db.deleteFrom('verify_v2_push_subscriptions').where('factor_sid', '=', factorSid).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  private async stored(factorSid: string): Promise<Stored | undefined> {
    const r = await this.p.db.selectFrom('verify_v2_push_subscriptions').select('sealed').where('factor_sid', '=', factorSid).executeTakeFirst();
    if (!r) return undefined;
    try {
      return { subscription: JSON.parse(this.p.secretBox.open(r.sealed, ad(factorSid)).toString('utf8')) as WebPushSubscription, sealed: r.sealed };
    } catch (err) {
      this.p.logger.warn({ factor_sid: factorSid, err: err instanceof Error ? err.message : 'unknown' }, 'push subscription cannot be opened');
      return undefined;
    }
  }

  /** Fire and forget, after the challenge is committed: one push to the factor's device, if it has a subscription. */
  challengeCreated(f: FactorRow, e: EntityRow, ch: ChallengeRow): void {
    if (f.factor_type !== 'push') return;
    const job = new Promise<void>((r) => setImmediate(r))
      .then(() => this.deliver(f, e, ch))
      .catch((err: unknown) => this.p.logger.warn({ err: err instanceof Error ? err.message : 'unknown' }, 'web push delivery failed'));
    this.inFlight.add(job);
    void job.finally(() => this.inFlight.delete(job));
  }

  private async deliver(f: FactorRow, e: EntityRow, ch: ChallengeRow): Promise<void> {
    const s = await this.stored(f.sid);
    if (!s) return;
    const ttl = Math.ceil((ch.expires_at - this.p.clock.now()) / 1000);
    if (ttl <= 0) return;
    const message = ((JSON.parse(ch.details) as PushDetails).message ?? '').slice(0, PUSH_MESSAGE_MAX);
    const payload: VerifyChallengePush = { type: 'verify_challenge', service_sid: e.service_sid, factor_sid: f.sid, challenge_sid: ch.sid, message };
    const { result, status } = await this.sender.send(s.subscription, JSON.stringify(payload), ttl, { factor_sid: f.sid });
    if (result === 'gone') {
      // RFC 8030 §7.3: gone for good. Only the subscription read (a newer one saved meanwhile stays).
      const r = await this.p.db.deleteFrom('verify_v2_push_subscriptions').where('factor_sid', '=', f.sid).where('sealed', '=', s.sealed).executeTakeFirst();
      this.p.logger.info({ factor_sid: f.sid, status, removed: Number(r.numDeletedRows) > 0 }, 'web push subscription expired; removed');
    }
  }

  /** Wait (bounded) for deliveries under way, then close the sender. */
  async stop(): Promise<void> {
    if (this.inFlight.size > 0) await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => setTimeout(r, 11_000).unref())]);
    this.sender.stop();
  }
}
