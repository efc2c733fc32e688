import { AppError } from '../../../src/app/error-codes.js';
import { h } from '../../shared/dom.js';
import { safeReturnTo } from '../../shared/return-to.js';
import { api } from '../api.js';
import { approvalNumber, codeEntry, continueLogin, passkeyFactorButton, rememberBox, type SecondFactorStart, watchApproval } from '../factors.js';
import { flow, footerLink, navigate, onLeave, page } from '../router.js';
import { actionForm, alertBox, expiryNote, field, formatWait, setAlert } from '../ui.js';
import { passkeySignin } from './passkey-signin.js';

export function login(): void {
  const next = safeReturnTo(new URLSearchParams(location.search).get('next'));
  // "webauthn": the browser may list this site's passkeys under the email field (conditional UI).
  const fEmail = field('email', 'Email', h('input', { type: 'email', autocomplete: 'username webauthn', required: true, autofocus: true }));
  const fPassword = field('password', 'Password', h('input', { type: 'password', autocomplete: 'current-password', required: true }));
  const alert = alertBox(flow.notice ?? '');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Log in');
  const passkeys = passkeySignin(alert, next);
  const form = actionForm(
    {
      submit,
      busyLabel: 'Checking…',
      alert,
      check: () => (fEmail.input.value && fPassword.input.value ? undefined : 'Enter your email and password.'),
      send: async () => {
        passkeys.pause();
        continueLogin(await api<SecondFactorStart>('POST', '/session', { email: fEmail.input.value, password: fPassword.input.value, return_to: next }));
      },
      failed: (e2) => {
        passkeys.resume();
        if (e2?.code === AppError.ACCOUNT_LOCKED) setAlert(alert, 'Too many wrong passwords were entered for this account. Log in from a browser you have used for it before, or try again later.');
        else if (e2?.status === 429) setAlert(alert, `Too many attempts. Try again in ${formatWait(e2.retry_after ?? 60)}.`);
        else setAlert(alert, e2?.message ?? 'Login failed.');
        fPassword.input.select();
        fPassword.input.focus();
      },
    },
    alert,
    fEmail.wrap,
    fPassword.wrap,
    submit,
  );
  page('Log in', form, passkeys.el, footerLink('', '/password/forgot', 'Forgot your password?'), footerLink('New here? ', '/signup', 'Create an account'));
}

export async function approve(): Promise<void> {
  let { number, details, expiresAt } = flow;
  if (number === undefined) {
    // Loaded directly (reload): ask the server for this attempt's request.
    try {
      const s = await api<{ status: string; number: string | null; details: Record<string, string>; expires_at: number | null }>('GET', '/authy/status');
      number = s.number;
      details = s.details;
      expiresAt = s.expires_at ?? undefined;
    } catch {
      navigate('/login', { notice: 'Please log in.' }, true);
      return;
    }
  }
  const returnTo = flow.returnTo ?? '/account';
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' }, 'Waiting for your approval…');
  const expiry = expiryNote(expiresAt);
  const passkey = flow.passkey === true;
  const useCode = h('button', { type: 'button', class: 'secondary', onclick: () => navigate('/login/code', { via: 'app', returnTo, passkey }) }, 'Use a code instead');
  const lostPhone = h('button', { type: 'button', class: 'link', onclick: () => navigate('/login/code', { via: 'app', returnTo, passkey, recovery: true }) }, 'Lost your phone? Use a recovery code');
  const remember = rememberBox();
  const alert = alertBox();
  const loggedIn = () => navigate(safeReturnTo(returnTo), {}, true);
  const usePasskey = passkey ? passkeyFactorButton({ alert, remember: remember.checked, done: loggedIn, ended: (e) => navigate('/login', { notice: e.message }, true) }) : null;
  page(
    'Approve on your phone',
    alert,
    h('p', {}, 'Open your Twofold Authenticator and approve this login. It will ask for this number:'),
    ...approvalNumber(number, details),
    status,
    expiry.el,
    remember.el,
    h('div', { class: 'actions' }, useCode, usePasskey),
    h('p', { class: 'switch' }, lostPhone),
  );
  onLeave(expiry.stop);
  const stop = watchApproval(status, {
    remember: remember.checked,
    done: () => {
      status.textContent = 'Approved. Logging you in…';
      loggedIn();
    },
    failed: (e) => navigate('/login', { notice: e?.message ?? 'Login failed. Please log in again.' }, true),
    denied: () => navigate('/login/code', { via: 'app', returnTo, passkey, notice: 'The login request was denied on your phone. If that was a mistake, enter a code from your authenticator app or get one by text message.' }, true),
    expired: () => navigate('/login/code', { via: 'app', returnTo, passkey, notice: 'The approval request expired. Enter a code from your authenticator app or get one by text message.' }, true),
    gone: () => navigate('/login', { notice: 'This login has ended. Please log in again.' }, true),
  });
  onLeave(stop);
}

export function code(): void {
  const returnTo = flow.returnTo;
  const remember = rememberBox();
  const entry = codeEntry({
    name: 'code',
    via: flow.via ?? 'app',
    autofocus: true,
    passkey: flow.passkey === true,
    remember: remember.checked,
    done: (r, recovery) => {
      if (!recovery) return navigate(safeReturnTo(returnTo), {}, true);
      const left = r.recovery_codes_remaining ?? 0;
      // The account page is where a lost phone gets replaced, so recovery always lands there.
      navigate('/account', {
        notice: `You logged in with a recovery code. ${left === 0 ? 'That was your last one: generate new codes now.' : `You have ${left} recovery ${left === 1 ? 'code' : 'codes'} left.`} If you lost your phone, remove it below and add a new authenticator.`,
      }, true);
    },
    ended: (e) => navigate('/login', { notice: e.message }, true),
  });
  onLeave(entry.stop);
  entry.form.insertBefore(remember.el, entry.form.querySelector('.actions'));
  page('Enter your code', entry.form, footerLink('', '/login', 'Start over'));
  if (flow.recovery) entry.setRecovery(true);
  setAlert(entry.alert, flow.notice ?? '', flow.notice?.includes('denied') || flow.notice?.includes('expired') ? 'error' : 'info');
  if (flow.retryAfter) entry.startCoolDown(flow.retryAfter);
}
