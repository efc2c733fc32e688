import { Router } from 'express';
import { AuditType } from '../../platform/audit.js';
import { isUniqueViolation } from '../../platform/db.js';
import { HttpError } from '../../platform/errors.js';
import { requireFullSession, requireRecentAuth } from '../guards.js';
import { listed, MAX_PASSKEYS } from '../passkeys.js';
import { shortBrowserName } from '../user-agent.js';
import { parseBody } from '../validation.js';
import { knownTransports, passkeyIdSchema, registerPasskeySchema, registrationOptions, renamePasskeySchema, requireRelyingParty, verifyRegistration } from '../webauthn.js';
import { type RouteKit, userRef } from './kit.js';
import { AppError } from '../error-codes.js';

/** A name for a new passkey when its owner gave none: what kind it is, and where it was made. */
function defaultName(transports: string[], backedUp: boolean, userAgent: string | undefined): string {
  const kind = backedUp ? 'Synced passkey' : transports.some((t) => t === 'usb' || t === 'nfc' || t === 'ble') ? 'Security key' : 'Passkey';
  return `${kind} (${shortBrowserName(userAgent)})`.slice(0, 64);
}

/**
 * The account page's passkeys: register one (behind a step-up), list, rename, remove. Passkeys
 * belong to the web app, not the verification service: WebAuthn binds each to this site's origin.
 */
export function passkeyRoutes(k: RouteKit): Router {
  const { sessions, passkeys, mutate, noParams, record, factorChanged, config, currentAccount } = k;
  const r = Router();
  const recent = requireRecentAuth(sessions);

  const parseId = (raw: unknown): string => {
    const id = passkeyIdSchema.safeParse(raw);
    if (!id.success) throw new HttpError(400, AppError.VALIDATION, 'id: is not a passkey id');
    return id.data;
  };

  r.post('/user/passkeys/options', ...mutate, requireFullSession, recent, noParams, async (req, res) => {
    const rp = requireRelyingParty(config);
    const u = await currentAccount(req);
    const existing = await passkeys.listFor(u.id);
    if (existing.length >= MAX_PASSKEYS) throw new HttpError(409, AppError.TOO_MANY_DEVICES, `An account holds at most ${MAX_PASSKEYS} passkeys; remove one first.`);
    const handle = await passkeys.handleFor(u.id);
    // The passkeys already here are excluded: an authenticator that holds one says so at once.
    const options = await registrationOptions(rp, { handle, email: u.email, fullName: u.full_name }, existing);
    await passkeys.issueChallenge({ challenge: options.challenge, purpose: 'register', bindingHash: req.appSession!.tokenHash, userId: u.id, attemptId: null });
    res.setHeader('Cache-Control', 'no-store');
    res.json({ options });
  });

  r.post('/user/passkeys', ...mutate, requireFullSession, recent, async (req, res) => {
    const v = parseBody(registerPasskeySchema, req.body);
    const rp = requireRelyingParty(config);
    const u = await currentAccount(req);
    const info = await verifyRegistration(rp, v.response, (challenge) => passkeys.consumeChallenge({ challenge, purpose: 'register', bindingHash: req.appSession!.tokenHash, userId: u.id, attemptId: null }));
    const transports = knownTransports(v.response.response.transports);
    let row;
    try {
      row = await passkeys.add({
        user_id: u.id,
        credential_id: info.credential.id,
        public_key: Buffer.from(info.credential.publicKey).toString('base64url'),
        counter: info.credential.counter,
        transports: JSON.stringify(transports),
        device_type: info.credentialDeviceType,
        backed_up: info.credentialBackedUp ? 1 : 0,
        uv_initialized: info.userVerified ? 1 : 0,
        name: v.name ?? defaultName(transports, info.credentialBackedUp, req.get('user-agent')),
      });
    } catch (e) {
      // The same answer whichever account holds it: nobody learns another account's passkeys.
      if (isUniqueViolation(e)) throw new HttpError(409, AppError.PASSKEY_EXISTS, 'This passkey is already registered. Choose another authenticator, or use the passkey you have.');
      throw e;
    }
    if (!row) throw new HttpError(409, AppError.TOO_MANY_DEVICES, `An account holds at most ${MAX_PASSKEYS} passkeys; remove one first.`);
    await record(req, { type: AuditType.PASSKEY_ADDED, outcome: 'success', userRef: userRef(u.id), detail: { passkey: row.id, backed_up: row.backed_up === 1, user_verified: info.userVerified } });
    await factorChanged(req, u.id, 'passkey_added');
    res.status(201).json({ passkey: listed(row) });
  });

  r.patch('/user/passkeys/:id', ...mutate, requireFullSession, async (req, res) => {
    const id = parseId(req.params.id);
    const v = parseBody(renamePasskeySchema, req.body);
    const s = req.appSession!;
    const row = await passkeys.rename(s.userId, id, v.name);
    if (!row) throw new HttpError(404, AppError.NOT_FOUND, 'No such passkey');
    await record(req, { type: AuditType.PASSKEY_RENAMED, outcome: 'success', userRef: userRef(s.userId), detail: { passkey: id } });
    res.json({ passkey: listed(row) });
  });

  // Every account keeps its proved phone at the verification service (a text-message code always
  // remains), so removing its last passkey never leaves it without a second factor.
  r.delete('/user/passkeys/:id', ...mutate, requireFullSession, recent, noParams, async (req, res) => {
    const id = parseId(req.params.id);
    const s = req.appSession!;
    if (!(await passkeys.remove(s.userId, id))) throw new HttpError(404, AppError.NOT_FOUND, 'No such passkey');
    // Whoever signed in with it (elsewhere) is signed out with it.
    const ended = await sessions.endSignedInWith(id, s.tokenHash);
    await record(req, { type: AuditType.PASSKEY_REMOVED, outcome: 'success', userRef: userRef(s.userId), detail: { passkey: id, sessions_ended: ended } });
    await factorChanged(req, s.userId, 'passkey_removed');
    res.json({ removed: id });
  });

  return r;
}
