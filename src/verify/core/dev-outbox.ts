import { Router } from 'express';
import { escapeHtml, localHostOnly, sendOutboxPage } from '../../platform/dev-pages.js';
import type { OutboxTransport } from './sms/index.js';

/**
 * The simulated phone: `/dev/sms` (HTML) and `/dev/sms.json` (`{ messages: [...] }`, newest
 * first; `?to=+1...` filters by recipient). Mounted only with SMS_TRANSPORT=outbox.
 */
export function devOutboxRoutes(outbox: OutboxTransport, publicUrl: () => string): Router {
  const r = Router();
  r.use(['/dev/sms', '/dev/sms.json'], localHostOnly(publicUrl));
  r.get('/dev/sms.json', async (req, res) => {
    const to = typeof req.query['to'] === 'string' ? req.query['to'] : undefined;
    const messages = await outbox.list(to === undefined ? {} : { to });
    res.setHeader('Cache-Control', 'no-store');
    res.json({ messages });
  });
  r.get('/dev/sms', async (_req, res) => {
    const messages = await outbox.list();
    sendOutboxPage(res, {
      title: 'SMS outbox',
      intro: 'Messages the development SMS transport "sent", newest first. Not for production.',
      columns: ['Sent', 'To', 'Message'],
      rows: messages.map((m) => [escapeHtml(m.created_at), escapeHtml(m.to), escapeHtml(m.body)]),
      empty: 'No messages yet.',
    });
  });
  return r;
}
