import { Router } from 'express';
import { AuditType } from '../../platform/audit.js';
import { HttpError } from '../../platform/errors.js';
import { AppError } from '../error-codes.js';
import { requireFullSession } from '../guards.js';
import { shortBrowserName } from '../user-agent.js';
import { type RouteKit, userRef } from './kit.js';

/**
 * The account's sessions on the account page: the list (browser, IP, started, last used, this
 * one), ending one, ending every other. Ending a session needs no step-up: it can only take
 * access away.
 */
export function accountSessionRoutes(k: RouteKit): Router {
  const { sessions, mutate, noParams, record } = k;
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
    const ended = await sessions.endAllFor(s.userId, undefined, s.tokenHash);
    await record(req, { type: AuditType.SESSION_ENDED, outcome: 'success', userRef: userRef(s.userId), detail: { which: 'others', count: ended } });
    res.json({ ended });
  });

  return r;
}
