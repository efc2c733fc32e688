import { Router } from 'express';
import { escapeHtml, linkedText, localHostOnly, sendOutboxPage } from '../dev-pages.js';
import type { MailOutbox } from './outbox.js';

/**
 * The simulated mailbox: `/dev/mail` (HTML; the links to this system can be followed) and
 * `/dev/mail.json` (`{ messages: [...] }`, newest first; `?to=` filters by recipient, any case).
 * Mounted only with MAIL_TRANSPORT=outbox outside production.
 */
export function devMailRoutes(outbox: MailOutbox, origin: () => string): Router {
  const r = Router();
  r.use(['/dev/mail', '/dev/mail.json'], localHostOnly(origin));
  r.get('/dev/mail.json', async (req, res) => {
    const to = typeof req.query['to'] === 'string' ? req.query['to'].trim().toLowerCase() : undefined;
    const messages = await outbox.list(to === undefined ? {} : { to });
    res.setHeader('Cache-Control', 'no-store');
    res.json({ messages });
  });
  r.get('/dev/mail', async (_req, res) => {
    const messages = await outbox.list();
    sendOutboxPage(res, {
      title: 'Mail outbox',
      intro: 'Email the development mail transport "sent", newest first. Not for production.',
      columns: ['Sent', 'To', 'Subject', 'Message'],
      rows: messages.map((m) => [escapeHtml(m.created_at), escapeHtml(m.to), escapeHtml(m.subject), `<pre>${linkedText(m.text, origin())}</pre>`]),
      empty: 'No mail yet.',
    });
  });
  return r;
}
