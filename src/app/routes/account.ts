import { Router } from 'express';
import { AuditType } from '../../platform/audit.js';
import { HttpError } from '../../platform/errors.js';
import { ServiceCode, VerifyServiceError } from '../authy-client.js';
import { requireFullSession, requireRecentAuth } from '../guards.js';
import { listed } from '../passkeys.js';
import { RECOVERY_CODE_COUNT } from '../recovery-codes.js';
import { relyingParty } from '../webauthn.js';
import { activationSchema, codeSchema, deviceIdSchema, emptySchema, parseBody, totpAppIdSchema } from '../validation.js';
import { fromService, type RouteKit, userRef } from './kit.js';
import { AppError } from '../error-codes.js';


/** The user's page: profile, authenticators, third-party TOTP apps, recovery codes. */
export function accountRoutes(k: RouteKit): Router {
  const { p, client, sessions, recovery, passkeys, config, audit, mutate, noParams, consumeCodeIp, record, tooMany, factorChanged } = k;
  const r = Router();
  const totpConfirm = p.limits.create({ name: 'app:totp-confirm:user', points: config.OTP_MAX_ATTEMPTS, durationSeconds: 15 * 60, blockSeconds: 15 * 60 });
  // ---- The user's page ----
  const currentUser = k.currentAccount;

  r.get('/user', requireFullSession, async (req, res) => {
    const u = await currentUser(req);
    let devices: { id: string; name: string; created_at: number; last_seen_at: number | null }[] = [];
    let devicesError: string | undefined;
    try {
      devices = (await client.listDevices(u.authy_id))
        .filter((x) => x.revokedAt === null)
        .map((x) => ({ id: x.id, name: x.name, created_at: x.createdAt, last_seen_at: x.lastSeenAt }));
    } catch (e) {
      devicesError = fromService(e).message;
    }
    const recoveryCodes = await recovery.status(u.id);
    // The app's own events, plus the lockouts the verification service recorded for this person
    // (asked of the service, which owns them; when it cannot answer, the list goes without them).
    const own = await audit.forUser(userRef(u.id), 20);
    const lockouts = (await client.listLockouts(u.authy_id).catch(() => [])).map((l) => ({ id: l.id, at: l.at, type: AuditType.LOCKOUT, outcome: 'info' as const, ip: null, detail: {} }));
    const events = [...own.map((e) => ({ id: e.id, at: e.at, type: e.type, outcome: e.outcome, ip: e.ip, detail: e.detail })), ...lockouts]
      .sort((a, b) => b.at - a.at || b.id - a.id)
      .slice(0, 20);
    let totpApps: { id: string; label: string | null; created_at: number; confirmed_at: number | null; last_used_at: number | null; legacy: boolean }[] = [];
    try {
      totpApps = (await client.listTotpApps(u.authy_id))
        .filter((x) => x.state === 'active')
        .map((x) => ({ id: x.id, label: x.label, created_at: x.createdAt, confirmed_at: x.confirmedAt, last_used_at: x.lastUsedAt, legacy: x.legacy }));
    } catch (e) {
      devicesError ??= fromService(e).message;
    }
    const rp = relyingParty(config);
    res.setHeader('Cache-Control', 'no-store');
    res.json({
      user: {
        id: u.id,
        fullName: u.full_name,
        email: u.email,
        countryCode: u.country_code,
        region: u.region,
        phone: u.phone,
        totpAppConfirmed: totpApps.length > 0,
      },
      devices,
      totp_apps: totpApps,
      passkeys: (await passkeys.listFor(u.id)).map(listed),
      passkeys_available: rp.available,
      ...(rp.available ? {} : { passkeys_unavailable_reason: rp.reason }),
      reauth_until: sessions.reauthUntil(req.appSession!),
      ...(devicesError ? { devices_error: devicesError } : {}),
      recovery_codes: recoveryCodes,
      events,
    });
  });

  r.post('/user/authenticators', ...mutate, requireFullSession, requireRecentAuth(sessions), async (req, res) => {
    const v = parseBody(activationSchema, req.body);
    const u = await currentUser(req);
    const act = await client.createActivation(u.authy_id, v.name).catch((e: unknown) => Promise.reject(fromService(e)));
    await record(req, { type: AuditType.DEVICE_ACTIVATED, outcome: 'info', userRef: userRef(u.id), detail: { step: 'link_created' } });
    await factorChanged(req, u.id, 'authenticator_added');
    res.status(201).json({ activation: { link: act.link, qr_code: act.qrCode, expires_at: act.expiresAt } });
  });

  /** A removal at the service: its 404 is the browser's 404 (not this user's, or gone). */
  async function removalAtService(call: Promise<void>, notFound: string): Promise<void> {
    try {
      await call;
    } catch (e) {
      if (e instanceof VerifyServiceError && e.status === 404) throw new HttpError(404, AppError.NOT_FOUND, notFound);
      throw fromService(e);
    }
  }

  r.delete('/user/authenticators/:id', ...mutate, requireFullSession, requireRecentAuth(sessions), noParams, async (req, res) => {
    const id = deviceIdSchema.safeParse(req.params.id);
    if (!id.success) throw new HttpError(400, AppError.VALIDATION, 'id: is not a device id');
    const u = await currentUser(req);
    await removalAtService(client.revokeDevice(u.authy_id, id.data), 'No such authenticator');
    await record(req, { type: AuditType.DEVICE_REVOKED, outcome: 'success', userRef: userRef(u.id), detail: { device: id.data } });
    await factorChanged(req, u.id, 'authenticator_removed');
    res.json({ revoked: id.data });
  });

  // A new third-party app secret, shown once. It counts (and replaces the app set up before, if
  // any) once a first code from it is confirmed.
  r.post('/user/totp-app', ...mutate, requireFullSession, requireRecentAuth(sessions), noParams, async (req, res) => {
    const u = await currentUser(req);
    const s = await client.createTotpSecret(u.authy_id, u.email).catch((e: unknown) => Promise.reject(fromService(e)));
    res.setHeader('Cache-Control', 'no-store');
    res.status(201).json({ id: s.id, uri: s.uri, qr_code: s.qrCode });
  });

  r.delete('/user/totp-app/:id', ...mutate, requireFullSession, requireRecentAuth(sessions), noParams, async (req, res) => {
    const id = totpAppIdSchema.safeParse(req.params.id);
    if (!id.success) throw new HttpError(400, AppError.VALIDATION, 'id: is not an authenticator app id');
    const u = await currentUser(req);
    await removalAtService(client.removeTotpApp(u.authy_id, id.data), 'No such authenticator app');
    await record(req, { type: AuditType.DEVICE_REVOKED, outcome: 'success', userRef: userRef(u.id), detail: { kind: 'totp_app' } });
    await factorChanged(req, u.id, 'totp_app_removed');
    res.json({ removed: id.data });
  });

  r.post('/user/totp-app/confirm', ...mutate, requireFullSession, async (req, res) => {
    const v = parseBody(codeSchema, req.body);
    const u = await currentUser(req);
    await consumeCodeIp(req);
    const lim = await totpConfirm.consume(String(u.id));
    if (!lim.allowed) throw tooMany(lim.retryAfterSeconds, 'totp confirm');
    let check;
    try {
      check = await client.verifyToken(u.authy_id, v.code, { pending: true });
    } catch (e) {
      if (e instanceof VerifyServiceError && e.code === ServiceCode.TOKEN_REUSED) {
        // Each 30-second code counts once per account, whichever authenticator showed it.
        throw new HttpError(400, AppError.CODE_INVALID, 'That code was already used. Wait for the app to show the next one, then type it.');
      }
      if (e instanceof VerifyServiceError && e.status === 401) throw new HttpError(400, AppError.CODE_INVALID, 'That code is not right. Check the app and try again.');
      throw fromService(e);
    }
    // Only a code of the new secret confirms it (a service that does not say which factor
    // matched is trusted as Authy was).
    if (!check.enrolled && check.factor !== null) {
      throw new HttpError(400, AppError.CODE_INVALID, 'That code is not from the new app. Scan the QR code and type the code the app shows.');
    }
    await record(req, { type: AuditType.DEVICE_ACTIVATED, outcome: 'success', userRef: userRef(u.id), detail: { kind: 'totp_app' } });
    await factorChanged(req, u.id, 'totp_app_set');
    res.json({ confirmed: true });
  });

  // A new set of recovery codes, shown once; every earlier code stops working.
  r.post('/user/recovery-codes', ...mutate, requireFullSession, requireRecentAuth(sessions), async (req, res) => {
    parseBody(emptySchema, req.body);
    const u = await currentUser(req);
    const { codes, generatedAt } = await recovery.regenerate(u.id);
    await record(req, { type: AuditType.RECOVERY_CODES_GENERATED, outcome: 'success', userRef: userRef(u.id), detail: { count: RECOVERY_CODE_COUNT } });
    await factorChanged(req, u.id, 'recovery_codes_generated');
    res.setHeader('Cache-Control', 'no-store');
    res.status(201).json({ codes, recovery_codes: { remaining: codes.length, generated_at: generatedAt } });
  });

  return r;
}
