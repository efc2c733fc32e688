import { Router } from 'express';
import type { OutboxTransport } from './sms/index.js';

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/**
 * The simulated phone: `/dev/sms` (HTML) and `/dev/sms.json` (`{ messages: [...] }`, newest
 * first; `?to=+1...` filters by recipient). Mounted only with SMS_TRANSPORT=outbox.
 */
export function devOutboxRoutes(outbox: OutboxTransport): Router {
  const r = Router();
  r.get('/dev/sms.json', async (req, res) => {
    const to = typeof req.query['to'] === 'string' ? req.query['to'] : undefined;
    const messages = await outbox.list(to === undefined ? {} : { to });
    res.setHeader('Cache-Control', 'no-store');
    res.json({ messages });
  });
  r.get('/dev/sms', async (_req, res) => {
    const messages = await outbox.list();
    const rows = messages
      .map((m) => `<tr><td>${escapeHtml(m.created_at)}</td><td>${escapeHtml(m.to)}</td><td>${escapeHtml(m.body)}</td></tr>`)
      .join('\n');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
    res.type('html').send(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5"><title>SMS outbox</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.4rem .8rem;text-align:left}</style>
</head><body><h1>SMS outbox</h1><p>Messages the development SMS transport "sent", newest first. Not for production.</p>
<table><thead><tr><th>Sent</th><th>To</th><th>Message</th></tr></thead><tbody>
${rows || '<tr><td colspan="3">No messages yet.</td></tr>'}
</tbody></table></body></html>`);
  });
  return r;
}
