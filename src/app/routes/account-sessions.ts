import { Router } from 'express';
import { AuditType } from '../../platform/audit.js';
import { HttpError } from '../../platform/errors.js';
import { AppError } from '../error-codes.js';
import { requireFullSession } from '../guards.js';
import { shortBrowserName } from '../user-agent.js';
import { type RouteKit, userRef } from './kit.js';

/**
 * The account's sessions on the account page: the list (browser, IP, started, last used, this
 * one), ending one, ending every other; and its remembered browsers (those that skip the second
 * factor), each removable. Ending or forgetting needs no step-up: it can only take access away.
 */
export function accountSessionRoutes(k: RouteKit): Router {
  const { sessions, remembered, mutate, noParams, record } = k;
  const r = Router();

  r.get('/user/sessions', requireFullSession, async (req, res) => {
    const s = req.appSession!;
    const list = await sessions.listFor(s.userId);
    res.setHeader('Cache-Control', 'no-store');
    res.json({
      sessions: list.map((x) => ({
        id: x.id,
        browser: shortBrowserName(x.userAgent ?? undefined),
        ip: x.ip,
        created_at: x.createdAt,
        last_seen_at: x.lastSeenAt,
        current: x.tokenHash === s.tokenHash,
      })),
    });
  });

  r.delete('/user/sessions/:id', ...mutate, requireFullSession, noParams, async (req, res) => {
    const id = String(req.params['id'] ?? '');
    if (!/^[A-Za-z0-9_-]{22}$/.test(id)) throw new HttpError(400, AppError.VALIDATION, 'id: is not a session id');
    const s = req.appSession!;
    const target = (await sessions.listFor(s.userId)).find((x) => x.id === id);
    if (!target) throw new HttpError(404, AppError.NOT_FOUND, 'No such session');
    await sessions.delete(target.tokenHash);
    const current = target.tokenHash === s.tokenHash;
    if (current) sessions.clearCookie(res);
    await record(req, { type: AuditType.SESSION_ENDED, outcome: 'success', userRef: userRef(s.userId), detail: { which: current ? 'this' : 'one' } });
    res.json({ ended: id, current });
  });

  r.delete('/user/sessions', ...mutate, requireFullSession, noParams, async (req, res) => {
    const s = req.appSession!;
    // Whoever held another session may have had this account remember their browser, or asked
    // for a change of email or phone that waits for its link or code.
    const ended = await k.db.transaction().execute((trx) => k.endOtherAccess(s.userId, trx, s.tokenHash));
    await record(req, { type: AuditType.SESSION_ENDED, outcome: 'success', userRef: userRef(s.userId), detail: { which: 'others', count: ended.sessions, remembered: ended.rememberedBrowsers } });
    res.json({ ended: ended.sessions, remembered_browsers_forgotten: ended.rememberedBrowsers });
  });

  r.get('/user/remembered-browsers', requireFullSession, async (req, res) => {
    const list = await remembered.listFor(req.appSession!.userId);
    res.setHeader('Cache-Control', 'no-store');
    res.json({
      browsers: list.map((b) => ({ id: b.id, browser: shortBrowserName(b.userAgent ?? undefined), ip: b.ip, created_at: b.createdAt, last_used_at: b.lastUsedAt, expires_at: b.expiresAt })),
    });
  });

  r.delete('/user/remembered-browsers/:id', ...mutate, requireFullSession, noParams, async (req, res) => {
    const id = String(req.params['id'] ?? '');
    if (!/^[A-Za-z0-9_-]{22}$/.test(id)) throw new HttpError(400, AppError.VALIDATION, 'id: is not a remembered browser id');
    const userId = req.appSession!.userId;
    if (!(await remembered.forget(userId, id))) throw new HttpError(404, AppError.NOT_FOUND, 'No such remembered browser');
    await record(req, { type: AuditType.REMEMBERED_BROWSER_FORGOTTEN, outcome: 'success', userRef: userRef(userId) });
    res.json({ forgotten: id });
  });

  return r;
}
