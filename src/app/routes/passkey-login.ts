import type { Request, Response } from 'express';
import { Router } from 'express';
import { AuditType } from '../../platform/audit.js';
import { clientNetwork } from '../../platform/client-network.js';
import { randomToken, sha256Hex } from '../../platform/crypto.js';
import { HttpError } from '../../platform/errors.js';
import { requireFullSession, requireSecondFactorSession, safeReturnTo } from '../guards.js';
import { CHALLENGE_TTL_MS, type PasskeyRow } from '../passkeys.js';
import { cookiePolicy, readSessionCookie, REAUTH_WINDOW_MS } from '../sessions.js';
import { parseBody } from '../validation.js';
import { authenticationOptions, passkeyAssertionSchema, requireRelyingParty, verifyAssertion } from '../webauthn.js';
import { type RouteKit, userRef } from './kit.js';
import type { SecondFactor } from './second-factor.js';
import { AppError } from '../error-codes.js';

type Assertion = ReturnType<typeof parseAssertion>;
const parseAssertion = (body: unknown) => parseBody(passkeyAssertionSchema, body);

/**
 * Logging in with a passkey: instead of the password and the second factor (sign-in), as the
 * second factor after the password, and as a step-up's proof on its own.
 */
export function passkeyLoginRoutes(k: RouteKit, sf: SecondFactor): Router {
  const { p, config, sessions, attempts, passkeys, users, mutate, noParams, record, notify, clientOf, consumeLimits, consumeCodeIp, ipOf } = k;
  const { liveAttempt, endAttempt, completeSecondFactor, finishLogin, startSecondFactor, bindFreshServiceUser } = sf;
  const r = Router();
  // Sign-in ceremonies from one client (asking for a challenge and answering it both count).
  const signinIp = p.limits.create({ name: 'app:passkey-signin:ip', points: config.LOGIN_PER_IP_LIMIT * 2, durationSeconds: 15 * 60, blockSeconds: 15 * 60 });
  const consumeSigninIp = (req: Request) => consumeLimits([[signinIp, clientNetwork(ipOf(req))]], 'passkey sign-ins per ip');
  const { name: baseName, secure } = cookiePolicy(config);
  const signinCookie = `${baseName}-passkey`;

  const invalid = (message: string, reason: string) => new HttpError(400, AppError.PASSKEY_INVALID, message, { reason });

  /**
   * Verify `v`'s assertion by `row` against the challenge issued for `purpose`, then move the
   * passkey's counter forwards. A counter that went backwards marks the passkey as copied: the
   * owner is told once, and it is refused from then on.
   */
  async function assertWith(req: Request, row: PasskeyRow, v: Assertion, c: { purpose: 'signin' | 'second_factor' | 'reauth'; bindingHash: string; userId: number | null; attemptId: string | null }) {
    if (row.cloned_at !== null) throw cloned();
    const rp = requireRelyingParty(config);
    const info = await verifyAssertion(rp, v.response, row, (challenge) => passkeys.consumeChallenge({ challenge, ...c }));
    const outcome = await passkeys.recordUse(row, info.newCounter, info.credentialBackedUp);
    if (outcome === 'cloned') {
      await record(req, { type: AuditType.PASSKEY_CLONED, outcome: 'failure', userRef: userRef(row.user_id), detail: { passkey: row.id, counter: info.newCounter, last_counter: row.counter } });
      notify(req, row.user_id, 'passkey_cloned');
    }
    if (outcome === 'stale') throw invalid('This passkey answer is older than its last use (another tab or window?). Try again.', 'counter behind a use younger than a challenge');
    if (outcome !== 'ok') throw cloned();
    return info;
  }

  /** Whether this assertion proves both factors: user verified, by a passkey known to verify its user (see `uv_initialized`). */
  const bothFactors = (row: PasskeyRow, info: { userVerified: boolean }) => info.userVerified && row.uv_initialized === 1;
  const cloned = () =>
    new HttpError(403, AppError.PASSKEY_CLONED, 'This passkey was refused: its authenticator looks copied (its signature counter went backwards). Use another way to sign in, and remove this passkey from your account page.');

  async function usablePasskeys(userId: number): Promise<PasskeyRow[]> {
    const rows = (await passkeys.listFor(userId)).filter((x) => x.cloned_at === null);
    if (rows.length === 0) throw new HttpError(404, AppError.NOT_FOUND, 'This account has no passkey that can be used.');
    return rows;
  }

  // ---- Sign-in: a passkey instead of the password (and, when it verified its user, the second factor) ----

  r.post('/session/passkey-signin/options', ...mutate, noParams, async (req, res) => {
    const rp = requireRelyingParty(config);
    await consumeSigninIp(req);
    // The challenge is bound to this browser by a cookie (kept across the email field's
    // autofill and the button, so that either may answer).
    const token = readSessionCookie(req, signinCookie) ?? randomToken(32);
    const options = await authenticationOptions(rp, undefined);
    await passkeys.issueChallenge({ challenge: options.challenge, purpose: 'signin', bindingHash: sha256Hex(token), userId: null, attemptId: null });
    res.cookie(signinCookie, token, { httpOnly: true, sameSite: 'strict', path: '/', secure, maxAge: CHALLENGE_TTL_MS });
    res.setHeader('Cache-Control', 'no-store');
    res.json({ options });
  });

  r.post('/session/passkey-signin', ...mutate, async (req, res) => {
    const v = parseAssertion(req.body);
    requireRelyingParty(config);
    await consumeSigninIp(req);
    const token = readSessionCookie(req, signinCookie);
    if (!token) throw invalid('This passkey request has ended. Try again.', 'no sign-in cookie');
    const row = await passkeys.byCredentialId(v.response.id);
    const handle = v.response.response.userHandle;
    if (!row || (handle !== undefined && (await passkeys.userOfHandle(handle)) !== row.user_id)) {
      await record(req, { type: AuditType.PASSKEY_SIGNIN, outcome: 'failure', userRef: row ? userRef(row.user_id) : null, detail: { reason: row ? 'user_handle' : 'unknown_passkey' } });
      throw invalid('This passkey is not registered here. Sign in with your email and password.', row ? 'user handle mismatch' : 'unknown credential');
    }
    const info = await assertWith(req, row, v, { purpose: 'signin', bindingHash: sha256Hex(token), userId: null, attemptId: null }).catch(async (e: unknown) => {
      await record(req, { type: AuditType.PASSKEY_SIGNIN, outcome: 'failure', userRef: userRef(row.user_id), detail: { passkey: row.id, reason: e instanceof HttpError ? e.code : 'error' } });
      throw e;
    });
    res.clearCookie(signinCookie, { httpOnly: true, sameSite: 'strict', path: '/', secure });
    const user = await users.byId(row.user_id);
    if (!user) throw invalid('This passkey is not registered here.', 'account gone');
    const whole = bothFactors(row, info);
    await record(req, { type: AuditType.PASSKEY_SIGNIN, outcome: 'success', userRef: userRef(user.id), detail: { passkey: row.id, user_verified: whole } });
    // Rotation: whatever session the browser had ends here.
    if (req.appSession) await sessions.delete(req.appSession.tokenHash);
    const returnTo = safeReturnTo(v.return_to, '/account');
    const attempt = await attempts.create(user.id, undefined, 'passkey');
    const halfToken = await sessions.create(user.id, 'half', attempt.id, clientOf(req), undefined, false, row.id);
    if (whole) {
      // Something held (the passkey) and something known or been (its PIN or biometric): a whole login.
      const [s, a] = await Promise.all([sessions.find(halfToken), attempts.get(attempt.id)]);
      finishLogin(res, (await completeSecondFactor(req, res, s!, a!, { requireApproved: false, kind: 'passkey' }))!, { return_to: returnTo });
      return;
    }
    // Only something held (or a PIN this account never saw it ask for: one set on a stolen key
    // later): the second factor is still asked, and this passkey cannot be it.
    sessions.setCookie(res, halfToken);
    const authyId = user.authy_id ?? (await bindFreshServiceUser(user));
    const next = await startSecondFactor(req, { id: user.id, email: user.email, authy_id: authyId }, attempt, 'login');
    res.json({ ...next, return_to: returnTo, passkey: false });
  });

  // ---- The second factor of a login (or of a step-up that began with the password) ----

  r.post('/session/passkey/options', ...mutate, requireSecondFactorSession, noParams, async (req, res) => {
    const rp = requireRelyingParty(config);
    const { s, a } = await liveAttempt(req, res);
    if (a.first_factor === 'passkey') throw invalid('This login began with a passkey; confirm it another way.', 'passkey as its own second factor');
    const options = await authenticationOptions(rp, await usablePasskeys(s.userId));
    await passkeys.issueChallenge({ challenge: options.challenge, purpose: 'second_factor', bindingHash: s.tokenHash, userId: s.userId, attemptId: a.id });
    res.setHeader('Cache-Control', 'no-store');
    res.json({ options });
  });

  r.post('/session/passkey', ...mutate, requireSecondFactorSession, async (req, res) => {
    const v = parseAssertion(req.body);
    requireRelyingParty(config);
    const { s, a } = await liveAttempt(req, res);
    if (a.first_factor === 'passkey') throw invalid('This login began with a passkey; confirm it another way.', 'passkey as its own second factor');
    await consumeCodeIp(req);
    // A refused passkey spends the attempt's budget as a wrong code does.
    const max = config.OTP_MAX_ATTEMPTS;
    const tries = await attempts.reserveCodeTry(a.id, max);
    if (tries === undefined) throw await endAttempt(req, res, s, a);
    const row = await passkeys.byCredentialId(v.response.id);
    try {
      if (!row || row.user_id !== s.userId) throw invalid('This passkey is not one of this account\'s. Choose another, or use another way.', 'passkey of another account');
      const info = await assertWith(req, row, v, { purpose: 'second_factor', bindingHash: s.tokenHash, userId: s.userId, attemptId: a.id });
      // After the password, a passkey that verified its user may from now on sign in alone.
      if (info.userVerified && row.uv_initialized === 0) await passkeys.markUserVerifying(row.id);
    } catch (e) {
      await record(req, { type: AuditType.SECOND_FACTOR, outcome: 'failure', userRef: userRef(s.userId), detail: { kind: 'passkey', reason: e instanceof HttpError ? e.code : 'error' } });
      if (max - tries <= 0) throw await endAttempt(req, res, s, a);
      throw e;
    }
    finishLogin(res, (await completeSecondFactor(req, res, s, a, { requireApproved: false, kind: 'passkey', remember: v.remember }))!);
  });

  // ---- Step-up with a passkey alone (it must verify its user: then it is both factors) ----

  r.post('/session/reauth/passkey/options', ...mutate, requireFullSession, noParams, async (req, res) => {
    const rp = requireRelyingParty(config);
    const s = req.appSession!;
    const options = await authenticationOptions(rp, await usablePasskeys(s.userId));
    await passkeys.issueChallenge({ challenge: options.challenge, purpose: 'reauth', bindingHash: s.tokenHash, userId: s.userId, attemptId: null });
    res.setHeader('Cache-Control', 'no-store');
    res.json({ options });
  });

  r.post('/session/reauth/passkey', ...mutate, requireFullSession, async (req: Request, res: Response) => {
    const v = parseAssertion(req.body);
    requireRelyingParty(config);
    const s = req.appSession!;
    await consumeCodeIp(req);
    const row = await passkeys.byCredentialId(v.response.id);
    const info = await (async () => {
      if (!row || row.user_id !== s.userId) throw invalid('This passkey is not one of this account\'s.', 'passkey of another account');
      return assertWith(req, row, v, { purpose: 'reauth', bindingHash: s.tokenHash, userId: s.userId, attemptId: null });
    })().catch(async (e: unknown) => {
      await record(req, { type: AuditType.REAUTH, outcome: 'failure', userRef: userRef(s.userId), detail: { kind: 'passkey', reason: e instanceof HttpError ? e.code : 'error' } });
      throw e;
    });
    if (!bothFactors(row!, info)) {
      await record(req, { type: AuditType.REAUTH, outcome: 'failure', userRef: userRef(s.userId), detail: { kind: 'passkey', reason: 'not_user_verified' } });
      throw new HttpError(400, AppError.PASSKEY_NOT_VERIFIED, 'Your passkey did not check that it is you (no PIN, fingerprint or face). Confirm with your password instead.');
    }
    const at = await sessions.recordReauth(s);
    if (at === undefined) throw new HttpError(401, AppError.UNAUTHENTICATED, 'Please log in');
    await record(req, { type: AuditType.REAUTH, outcome: 'success', userRef: userRef(s.userId), detail: { kind: 'passkey' } });
    res.json({ state: 'reauthenticated', reauth_until: at + REAUTH_WINDOW_MS });
  });

  return r;
}
