import { AppError } from '../../../src/app/error-codes.js';
import { h } from '../../shared/dom.js';
import { safeReturnTo } from '../../shared/return-to.js';
import { api } from '../api.js';
import { approvalNumber, codeEntry, rememberBox, type SecondFactorStart, watchApproval } from '../factors.js';
import { flow, footerLink, navigate, onLeave, page } from '../router.js';
import { actionForm, alertBox, expiryNote, field, formatWait, setAlert } from '../ui.js';

export function login(): void {
  const next = safeReturnTo(new URLSearchParams(location.search).get('next'));
  const fEmail = field('email', 'Email', h('input', { type: 'email', autocomplete: 'username', required: true, autofocus: true }));
  const fPassword = field('password', 'Password', h('input', { type: 'password', autocomplete: 'current-password', required: true }));
  const alert = alertBox(flow.notice ?? '');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Log in');
  const form = actionForm(
    {
      submit,
      busyLabel: 'Checking…',
      alert,
      check: () => (fEmail.input.value && fPassword.input.value ? undefined : 'Enter your email and password.'),
      send: async () => {
        const r = await api<SecondFactorStart & { return_to?: string }>('POST', '/session', {
          email: fEmail.input.value,
          password: fPassword.input.value,
          return_to: next,
        });
        const returnTo = safeReturnTo(r.return_to);
        if (r.state === 'logged_in') {
          navigate(returnTo, {}, true);
        } else if (r.state === 'approve') {
          navigate('/login/approve', { number: r.number ?? null, details: r.details ?? {}, expiresAt: r.expires_at ?? 0, returnTo });
        } else {
          navigate('/login/code', {
            returnTo,
            via: r.via ?? 'sms',
            ...(r.message ? { notice: r.message } : {}),
            ...(r.retry_after ? { retryAfter: r.retry_after } : {}),
          });
        }
      },
      failed: (e2) => {
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
  page('Log in', form, footerLink('', '/password/forgot', 'Forgot your password?'), footerLink('New here? ', '/signup', 'Create an account'));
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
  const useCode = h('button', { type: 'button', class: 'secondary', onclick: () => navigate('/login/code', { via: 'app', returnTo }) }, 'Use a code instead');
  const lostPhone = h('button', { type: 'button', class: 'link', onclick: () => navigate('/login/code', { via: 'app', returnTo, recovery: true }) }, 'Lost your phone? Use a recovery code');
  const remember = rememberBox();
  page(
    'Approve on your phone',
    h('p', {}, 'Open your Twofold Authenticator and approve this login. It will ask for this number:'),
    ...approvalNumber(number, details),
    status,
    expiry.el,
    remember.el,
    h('div', { class: 'actions' }, useCode),
    h('p', { class: 'switch' }, lostPhone),
  );
  onLeave(expiry.stop);
  const stop = watchApproval(status, {
    remember: remember.checked,
    done: () => {
      status.textContent = 'Approved. Logging you in…';
      navigate(safeReturnTo(returnTo), {}, true);
    },
    failed: (e) => navigate('/login', { notice: e?.message ?? 'Login failed. Please log in again.' }, true),
    denied: () => navigate('/login/code', { via: 'app', returnTo, notice: 'The login request was denied on your phone. If that was a mistake, enter a code from your authenticator app or get one by text message.' }, true),
    expired: () => navigate('/login/code', { via: 'app', returnTo, notice: 'The approval request expired. Enter a code from your authenticator app or get one by text message.' }, true),
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
