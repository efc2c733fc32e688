import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { h, mount } from '../../shared/dom.js';
import { busy, failureOf } from '../ui.js';

/** What `GET /user` answers, how the account page shows it, and its activity lines as sentences. */
export interface Device {
  id: string;
  name: string;
  created_at: number;
  last_seen_at: number | null;
}

export interface TotpApp {
  id: string;
  label: string | null;
  created_at: number;
  confirmed_at: number | null;
  last_used_at: number | null;
  /** The one secret older accounts shared between their authenticators. */
  legacy: boolean;
}

/** A passkey (WebAuthn credential) of the account. */
export interface Passkey {
  id: string;
  name: string;
  created_at: number;
  last_used_at: number | null;
  /** Synced to the owner's other devices (a password manager, say) when last seen. */
  backed_up: boolean;
  device_type: 'singleDevice' | 'multiDevice';
  /** Its counter went backwards (a copied authenticator): refused from then on. */
  cloned: boolean;
}

export interface Me {
  user: { fullName: string; email: string; countryCode: string; phone: string; totpAppConfirmed: boolean };
  devices: Device[];
  totp_apps?: TotpApp[];
  passkeys?: Passkey[];
  /** False when this site cannot use passkeys (its address is an IP address); the reason says why. */
  passkeys_available?: boolean;
  passkeys_unavailable_reason?: string;
  reauth_until?: number | null;
  devices_error?: string;
  recovery_codes: { remaining: number; generated_at: number | null };
  events: { id: number; at: number; type: string; outcome: string; ip: string | null; detail: Record<string, unknown> }[];
}

export type AccountEvent = Me['events'][number];

/** The activity lines about passkeys; undefined for any other event. */
function describePasskeyEvent(e: AccountEvent): { text: string; warn: boolean } | undefined {
  const ok = e.outcome !== 'failure';
  switch (e.type) {
    case 'passkey_added':
      return { text: 'A passkey was added.', warn: false };
    case 'passkey_renamed':
      return { text: 'A passkey was renamed.', warn: false };
    case 'passkey_removed':
      return { text: 'A passkey was removed.', warn: false };
    case 'passkey_cloned':
      return { text: 'A passkey was refused: it looks copied (its counter went backwards). Remove it.', warn: true };
    case 'passkey_signin':
      if (!ok) return { text: 'Signing in with a passkey failed.', warn: true };
      if (e.detail.user_verified === false) return { text: 'A passkey was accepted instead of your password; the second step was still asked.', warn: false };
      return { text: 'A passkey was accepted instead of your password and phone.', warn: false };
    default:
      return undefined;
  }
}

/**
 * One line of the account's activity, as a sentence a person reads, and whether it is a warning
 * (something failed that the person did not do on purpose: a wrong password or code, a lockout).
 */
export function describeEvent(e: AccountEvent): { text: string; warn: boolean } {
  const passkey = describePasskeyEvent(e);
  if (passkey) return passkey;
  const kind = typeof e.detail.kind === 'string' ? e.detail.kind : undefined;
  const reason = typeof e.detail.reason === 'string' ? e.detail.reason : undefined;
  const reauth = e.detail.purpose === 'reauth';
  const ok = e.outcome !== 'failure';
  const byKind: Record<string, string> = {
    sms: 'with a code from a text message',
    totp: 'with a code from your authenticator',
    push: 'by approving on your authenticator',
    recovery: 'with a recovery code',
    signup: 'right after signing up',
    remembered: 'with your password, on a browser that skips the second step',
    passkey: 'with a passkey',
  };
  switch (e.type) {
    case 'signup':
      return ok ? { text: 'You created your account.', warn: false } : { text: 'Someone tried to sign up with your email address. If it was not you, nothing was created.', warn: true };
    case 'password':
      if (ok) return { text: reauth ? 'Your password was accepted to confirm it’s you.' : 'Your password was accepted.', warn: false };
      return { text: 'A wrong password was entered for your account.', warn: true };
    case 'second_factor_sent':
      return { text: 'A code was texted to your phone.', warn: false };
    case 'second_factor':
      if (ok) return { text: `Second step passed ${byKind[kind ?? ''] ?? ''}`.trim() + '.', warn: false };
      if (reason === 'denied') return { text: 'A request was denied on your authenticator.', warn: false };
      if (reason === 'reused') return { text: 'A code that was already used was entered.', warn: true };
      return { text: 'A wrong code was entered.', warn: true };
    case 'approval_requested':
      return { text: reauth ? 'A request to confirm it’s you was sent to your authenticator.' : 'A login request was sent to your authenticator.', warn: false };
    case 'approval_answered':
      return { text: ok ? 'A request was approved on your authenticator.' : 'A request was denied on your authenticator.', warn: false };
    case 'device_activated':
      if (kind === 'totp_app') return { text: 'An authenticator app was added.', warn: false };
      return { text: e.outcome === 'info' ? 'A link to add an authenticator was created.' : 'An authenticator was added.', warn: false };
    case 'device_revoked':
      if (reason === 'shared_phone_split') return { text: 'Your authenticators were removed: your phone number was shared with another account. Add them again.', warn: true };
      return { text: kind === 'totp_app' ? 'An authenticator app was removed.' : 'An authenticator was removed.', warn: false };
    case 'recovery_codes_generated':
      return { text: 'New recovery codes were made; the earlier ones stopped working.', warn: false };
    case 'reauth':
      if (!ok) return { text: 'A passkey that does not check your PIN, fingerprint or face could not confirm it’s you.', warn: false };
      return { text: kind === 'passkey' ? 'You confirmed it’s you with a passkey.' : 'You confirmed it’s you.', warn: false };
    case 'lockout':
      return { text: 'Codes were refused for a while after too many wrong ones.', warn: true };
    case 'login':
      return { text: `You logged in ${byKind[kind ?? ''] ?? ''}`.trim() + '.', warn: false };
    case 'logout':
      return { text: 'You logged out.', warn: false };
    case 'password_reset_requested':
      return { text: 'A link to reset your password was sent to your email address.', warn: false };
    case 'password_changed':
      return { text: 'Your password was changed, and every other session was ended.', warn: false };
    case 'email_change_requested':
      return { text: 'A change of your email address was asked for; a link went to the new address.', warn: false };
    case 'email_changed':
      return { text: 'Your email address was changed.', warn: false };
    case 'phone_changed':
      return { text: 'Your phone number was changed.', warn: false };
    case 'remembered_browser_forgotten':
      return { text: 'A browser that skipped the second step was forgotten.', warn: false };
    case 'session_ended':
      if (e.detail.which === 'others') return { text: `Every other session was ended (${Number(e.detail.count ?? 0)}).`, warn: false };
      return { text: e.detail.which === 'this' ? 'This session was ended from the sessions list.' : 'A session was ended from the sessions list.', warn: false };
    case 'password_reset':
      return { text: 'Your password was reset with an emailed link, and every session was ended.', warn: false };
    default:
      return { text: `${e.type.replace(/_/g, ' ')} (${e.outcome})`, warn: !ok };
  }
}

/**
 * The account page's state and frame, shared by its parts (factor list, adding an authenticator
 * or an app): the account as last read, where to say things, how to read it again.
 */
export interface AccountView {
  me: Me;
  say(message: string, kind?: 'error' | 'info'): void;
  loggedOut(): void;
  /** Read the account again and redraw what may have changed; false when that failed. */
  refresh(): Promise<boolean>;
  /** Redraw the factor list and the activity from `me`. */
  redraw(): void;
  factorsHeading: HTMLElement;
  activationArea: HTMLElement;
  totpArea: HTMLElement;
  /** Where adding a passkey says how it went. */
  passkeyArea: HTMLElement;
  /** Stop watching for a new authenticator (set while an activation QR is shown). */
  stopPolling: () => void;
}

/**
 * A button of the account page that starts a change: busy while `run` works; a failure is said in
 * `area` (`failure` when the server gave no message), and a 401 leads to the login.
 */
export function changeButton(v: AccountView, button: HTMLButtonElement, area: HTMLElement, failure: string, run: () => Promise<void>): HTMLButtonElement {
  button.addEventListener('click', async () => {
    busy(button, true);
    try {
      await run();
    } catch (err) {
      const e2 = failureOf(err);
      if (e2?.status === 401) return v.loggedOut();
      mount(area, h('p', { class: 'field-error' }, e2?.message ?? failure));
    }
    busy(button, false);
  });
  return button;
}

const LEGACY_APP_NAME = 'Authenticator app (set up before each authenticator had its own key)';
export const appName = (a: TotpApp) => (a.legacy ? LEGACY_APP_NAME : a.label ? `Authenticator app (${a.label})` : 'Authenticator app');
export const when = (ms: number) => new Date(ms).toLocaleString();

/** The account's phone as people write it (+1 201 555 0123). */
export const phoneText = (me: Me) => {
  const raw = `+${me.user.countryCode}${me.user.phone}`;
  return parsePhoneNumberFromString(raw)?.formatInternational() ?? `+${me.user.countryCode} ${me.user.phone}`;
};
