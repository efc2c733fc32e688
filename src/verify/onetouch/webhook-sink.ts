import https from 'node:https';
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

/**
 * POST over https through `agent` (public addresses only) and answer the status alone: the body
 * is discarded unread, redirects are not followed, and the request ends after `timeoutMs`.
 */
export function postStatusOnly(agent: https.Agent, url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    if (u.protocol !== 'https:') return reject(new Error('webhooks go over https in production'));
    const req = https.request(u, { method: 'POST', agent, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
      res.destroy();
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  });
}
