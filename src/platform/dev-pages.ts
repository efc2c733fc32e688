import type { RequestHandler, Response } from 'express';
import { escapeHtml } from './html.js';

export { escapeHtml };

/** Escaped text in which the links under `origin` (this system's own) can be followed. */
export function linkedText(text: string, origin: string): string {
  const out: string[] = [];
  let last = 0;
  for (const m of text.matchAll(/https?:\/\/[^\s<>"']+/g)) {
    out.push(escapeHtml(text.slice(last, m.index)));
    const url = m[0];
    out.push(url.startsWith(`${origin}/`) ? `<a href="${escapeHtml(url)}">${escapeHtml(url)}</a>` : escapeHtml(url));
    last = m.index + url.length;
  }
  out.push(escapeHtml(text.slice(last)));
  return out.join('');
}

/**
 * The outbox pages answer only requests addressed to this machine by name (`localhost`,
 * 127.0.0.1, [::1]) or to PUBLIC_URL's host: a web page whose name an attacker re-points at
 * 127.0.0.1 (DNS rebinding) sends its own name as Host, and is refused.
 */
export function localHostOnly(publicUrl: () => string): RequestHandler {
  return (req, res, next) => {
    const host = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
    const allowed = host === 'localhost' || host === '127.0.0.1' || host === '[::1]' || host === new URL(publicUrl()).hostname.toLowerCase();
    if (allowed) return next();
    res.status(403).json({ code: 'FORBIDDEN_HOST', message: 'The development outboxes answer only at localhost or PUBLIC_URL' });
  };
}

/**
 * A development outbox's page (/dev/sms, /dev/mail): a table of what was "sent", newest first,
 * refreshed every 5 s. Cells are HTML the caller has escaped.
 */
export function sendOutboxPage(res: Response, o: { title: string; intro: string; columns: string[]; rows: string[][]; empty: string }): void {
  const head = o.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('');
  const body = o.rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
  res.type('html').send(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5"><title>${escapeHtml(o.title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.4rem .8rem;text-align:left;vertical-align:top}pre{white-space:pre-wrap;margin:0;font-family:inherit}</style>
</head><body><h1>${escapeHtml(o.title)}</h1><p>${escapeHtml(o.intro)}</p>
<table><thead><tr>${head}</tr></thead><tbody>
${body || `<tr><td colspan="${o.columns.length}">${escapeHtml(o.empty)}</td></tr>`}
</tbody></table></body></html>`);
}
