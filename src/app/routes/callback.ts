import { type Request, type Response, Router } from 'express';
import { AuditType } from '../../platform/audit.js';
import { verifyCallbackSignature } from '../../platform/authy-signature.js';
import { HttpError } from '../../platform/errors.js';
import { boundedJson } from '../../platform/http.js';
import { attemptChannel } from '../login-attempts.js';
import { type RouteKit, userRef } from './kit.js';
import { AppError } from '../error-codes.js';

/** Callback nonces are Unix seconds; older (or further in the future) than this are refused. */
const CALLBACK_NONCE_WINDOW_SECONDS = 300;

/** `POST /authy/callback`: the verification service's signed OneTouch callback. */
export function callbackRoutes(k: RouteKit): Router {
  const { p, attempts, config, clock, audit, callbackNonces, apiKey } = k;
  const r = Router();
  // The OneTouch callback from the verification service. Unauthenticated: the signature is the
  // credential, so no CSRF check, and every refusal is the same 401.
  const refuseCallback = (reason: string) => new HttpError(401, AppError.BAD_SIGNATURE, 'Invalid signature', { reason });
  // The cheap checks come before the body is read at all: headers of the right shape and a fresh
  // nonce. Only then is the body parsed, within the size, depth and value budgets.
  const callbackHeaders = (req: Request, _res: Response, next: (e?: unknown) => void) => {
    const nonce = req.get('x-authy-signature-nonce') ?? '';
    const signature = req.get('x-authy-signature') ?? '';
    if (!/^\d{1,12}$/.test(nonce) || !/^[A-Za-z0-9+/=]{1,200}$/.test(signature)) return next(refuseCallback('missing or malformed headers'));
    if (Math.abs(clock.now() / 1000 - Number(nonce)) > CALLBACK_NONCE_WINDOW_SECONDS) return next(refuseCallback('stale nonce'));
    next();
  };
  r.post('/authy/callback', callbackHeaders, boundedJson({ limit: '64kb', type: () => true }), async (req, res) => {
    const nonce = req.get('x-authy-signature-nonce')!;
    const signature = req.get('x-authy-signature')!;
    const refuse = refuseCallback;
    const body: unknown = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw refuse('body not an object');
    const url = `${config.PUBLIC_URL}/authy/callback`;
    if (!verifyCallbackSignature({ apiKey, nonce, method: 'POST', url, body, signature })) throw refuse('signature mismatch');
    if (!(await callbackNonces.remember(nonce, signature))) throw refuse('replayed nonce');
    const b = body as Record<string, unknown>;
    const uuid = typeof b.uuid === 'string' ? b.uuid : '';
    const status = b.status;
    const tx = (b.approval_request as { transaction?: { hidden_details?: unknown } } | undefined)?.transaction;
    const hidden = tx?.hidden_details as Record<string, unknown> | undefined;
    const attemptId = typeof hidden?.login_attempt === 'string' ? hidden.login_attempt : '';
    if (!uuid || (status !== 'approved' && status !== 'denied') || !/^[0-9a-f]{32}$/.test(attemptId)) {
      throw new HttpError(400, AppError.VALIDATION, 'Callback body is not an approval status', { reason: 'callback shape' });
    }
    const a = await attempts.get(attemptId);
    if (!a || a.approval_uuid !== uuid || (b.authy_id !== undefined && Number(b.authy_id) !== a.authy_id)) {
      throw new HttpError(404, AppError.NOT_FOUND, 'No such login attempt', { reason: 'callback for unknown attempt' });
    }
    const changed = await attempts.recordAnswer(a.id, uuid, status);
    if (changed) {
      await audit.record({ type: AuditType.APPROVAL_ANSWERED, outcome: status === 'approved' ? 'success' : 'failure', userRef: userRef(a.user_id), detail: { status } });
      if (status === 'denied') await audit.record({ type: AuditType.SECOND_FACTOR, outcome: 'failure', userRef: userRef(a.user_id), detail: { kind: 'push', reason: 'denied' } });
      await p.bus.publish(attemptChannel(a.id), { status });
    }
    res.json({ ok: true, recorded: changed });
  });

  return r;
}
