import { AppError } from '../../../src/app/error-codes.js';
import { browserSupportsWebAuthnAutofill } from '@simplewebauthn/browser';
import type { AuthenticationResponseJSON } from '@simplewebauthn/browser';
import { h } from '../../shared/dom.js';
import { api } from '../api.js';
import { continueLogin, type SecondFactorStart } from '../factors.js';
import { cancelPasskeyRequest, passkeysWorkHere, sayPasskeyFailure, signWithPasskey } from '../passkeys.js';
import { onLeave } from '../router.js';
import { busy, failureOf, formatWait, setAlert } from '../ui.js';

const OPTIONS = '/session/passkey-signin/options';

/** What the login page does with passkeys: the button's block, and the background request to stop while the password is tried. */
export interface PasskeySignin {
  /** "Sign in with a passkey" and a line about it; null where passkeys cannot work (no WebAuthn, an IP address). */
  el: HTMLElement | null;
  /** Stop offering passkeys in the email field's autofill (the password is being tried). */
  pause(): void;
  /** Offer them again (the password did not work). */
  resume(): void;
}

/**
 * Passkey sign-in on the login page: a button, and the browser's autofill list on the email field
 * (conditional UI) waiting in the background. Each request fetches fresh options (the server keeps
 * one challenge per browser, so the newest request is the only one that can succeed); a newer
 * request makes the older one's answer ignored. A passkey that checked who holds it logs in; one
 * that did not leads to the second step, as a password does.
 */
export function passkeySignin(alert: HTMLElement, returnTo: string): PasskeySignin {
  if (!passkeysWorkHere()) return { el: null, pause: () => {}, resume: () => {} };
  const label = 'Sign in with a passkey';
  const button = h('button', { type: 'button', class: 'secondary' }, label);
  const el = h('div', { class: 'passkey-signin' }, h('p', { class: 'hint' }, 'Saved a passkey for this site on this device or in your password manager? Use it instead of your password.'), h('div', { class: 'actions' }, button));
  /** The newest request; an older one's result is dropped. */
  let current = 0;
  let left = false;
  const isCurrent = (n: number) => n === current && !left;

  /** Send the signed answer and go on (logged in, or to the second step) unless a newer request took over. */
  const signIn = async (response: AuthenticationResponseJSON, n: number): Promise<void> => {
    const r = await api<SecondFactorStart>('POST', '/session/passkey-signin', { response, return_to: returnTo });
    if (isCurrent(n)) continueLogin(r);
  };
  /** Say why the sign-in did not go through (nothing when the page stopped it). */
  const failed = (err: unknown) => {
    const e = failureOf(err);
    if (e?.code === AppError.PASSKEYS_UNAVAILABLE) el.hidden = true;
    if (e?.status === 429) setAlert(alert, `Too many attempts. Try again in ${formatWait(e.retry_after ?? 60)}.`);
    else sayPasskeyFailure(alert, err, 'Signing in with the passkey did not work. Try again.');
  };

  const autofill = async () => {
    const n = ++current;
    if (left || !(await browserSupportsWebAuthnAutofill().catch(() => false))) return;
    let response: AuthenticationResponseJSON;
    try {
      response = await signWithPasskey(OPTIONS, { autofill: true, wanted: () => isCurrent(n) });
    } catch (err) {
      // Quietly: nobody asked for this one. Only a site without passkeys hides the button.
      if (failureOf(err)?.code === AppError.PASSKEYS_UNAVAILABLE) el.hidden = true;
      return;
    }
    if (!isCurrent(n)) return;
    setAlert(alert, '');
    try {
      await signIn(response, n);
    } catch (err) {
      if (!isCurrent(n)) return;
      failed(err);
      void autofill();
    }
  };

  button.addEventListener('click', async () => {
    const n = ++current;
    setAlert(alert, '');
    busy(button, true, 'Waiting for your passkey…');
    try {
      await signIn(await signWithPasskey(OPTIONS, { wanted: () => isCurrent(n) }), n);
    } catch (err) {
      busy(button, false, label);
      if (!isCurrent(n)) return;
      failed(err);
      void autofill();
    }
  });

  onLeave(() => {
    left = true;
    current++;
    cancelPasskeyRequest();
  });
  void autofill();
  return {
    el,
    pause: () => {
      current++;
      cancelPasskeyRequest();
    },
    resume: () => void autofill(),
  };
}
