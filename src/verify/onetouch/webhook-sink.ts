import type { Kysely } from 'kysely';
import type { WebhookSink } from '../ports.js';
import type { OneTouchDatabase, OneTouchPlatform } from '../schema-onetouch.js';

/** Verify v2 webhooks as rows of the callback outbox (format `twilio`), sent by its worker. */
export function webhookSink(p: OneTouchPlatform, kick: () => void): WebhookSink {
  return {
    async enqueue(trx, w) {
      const db = (trx as Kysely<OneTouchDatabase> | undefined) ?? p.db.db;
      const now = p.clock.now();
      await db
        .insertInto('callback_outbox')
        .values({ approval_uuid: w.eventId, app_id: w.appId, url: w.url, body: new URLSearchParams(w.params).toString(), format: 'twilio', created_at: now, next_attempt_at: now, lease_until: null, delivered_at: null, gave_up_at: null, last_error: null })
        .execute();
    },
    kick,
  };
}
