/** "Confirm it's you": the step-up before a factor change, as a modal dialog, and `withStepUp`. */
import { AppError } from '../../src/app/error-codes.js';
import { h, mount } from '../shared/dom.js';
import { api, type ApiError } from './api.js';
import { approvalNumber, codeEntry, passkeyFactorButton, type SecondFactorStart, watchApproval } from './factors.js';
import { cancelPasskeyRequest, passkeysWorkHere, sayPasskeyFailure, signWithPasskey } from './passkeys.js';
import { navigate, onLeave } from './router.js';
import { actionForm, alertBox, busy, expiryNote, failureOf, field, fieldError, formatWait, setAlert } from './ui.js';

/** Whether the logged-in account has a passkey that works (the account page says so at each read). */
let accountHasPasskey = false;

/** Offer "Confirm with a passkey" in the dialog (the account page calls it with what `GET /user` said). */
export function offerPasskeyStepUp(on: boolean): void {
  accountHasPasskey = on;
}

/**
 * "Confirm with a passkey": a passkey that checks who holds it (PIN, fingerprint, face) stands
 * for both the password and the phone. One that does not is refused (PASSKEY_NOT_VERIFIED): then
 * the password it is.
 */
function passkeyStepUpButton(o: { alert: HTMLElement; password: HTMLInputElement; done(): void; ended(e: ApiError): void }): HTMLButtonElement {
  const label = 'Confirm with a passkey';
  const button = h('button', { type: 'button', class: 'secondary' }, label);
  button.addEventListener('click', async () => {
    setAlert(o.alert, '');
    busy(button, true, 'Waiting for your passkey…');
    try {
      const response = await signWithPasskey('/session/reauth/passkey/options');
      await api('POST', '/session/reauth/passkey', { response });
      o.done();
    } catch (err) {
      busy(button, false, label);
      const e = failureOf(err);
      if (e?.status === 401) return o.ended(e);
      if (e?.code === AppError.PASSKEY_NOT_VERIFIED) {
        setAlert(o.alert, 'Your passkey did not ask for your PIN, fingerprint or face, so it cannot confirm it’s you on its own. Enter your password instead.');
        o.password.focus();
        return;
      }
      if (e?.status === 429) return setAlert(o.alert, `Too many attempts. Try again in ${formatWait(e.retry_after ?? 60)}.`);
      sayPasskeyFailure(o.alert, err);
    }
  });
  return button;
}

/**
 * "Confirm it's you": the step-up a factor change needs when the server answers 403
 * REAUTH_REQUIRED. A modal dialog (focus moves into it and stays there; Escape or Cancel closes
 * it): the password, then the second factor as at login (the number to approve on the phone, a
 * code, a recovery code or a passkey) through the login's own routes on this session; or, for an
 * account with passkeys, a passkey alone. Resolves true once confirmed, false when cancelled.
 */
function confirmItsYou(): Promise<boolean> {
  return new Promise((resolve) => {
    const title = h('h2', { id: 'stepup-title', tabindex: '-1' }, 'Confirm it’s you');
    const body = h('div', {});
    const dialog = h('dialog', { class: 'stepup', 'aria-labelledby': 'stepup-title' }, title, body);
    let stopStage: (() => void) | undefined;
    let settled = false;
    /** The server offered a passkey as the second step (after the password). */
    let passkey = false;
    const finish = (ok: boolean) => {
      if (settled) return;
      settled = true;
      stopStage?.();
      cancelPasskeyRequest();
      if (dialog.open) dialog.close();
      dialog.remove();
      resolve(ok);
    };
    // Escape.
    dialog.addEventListener('cancel', (e) => {
      e.preventDefault();
      finish(false);
    });
    onLeave(() => finish(false));
    const cancelButton = () => h('button', { type: 'button', class: 'secondary', onclick: () => finish(false) }, 'Cancel');
    const show = (...nodes: Node[]) => {
      stopStage?.();
      stopStage = undefined;
      mount(body, ...nodes);
    };

    /** The step-up is over: start again with the password, or (logged out) go to the login. */
    const ended = (e: ApiError | undefined) => {
      if (e?.status === 401 || e?.code === AppError.TOO_MANY_ATTEMPTS) {
        finish(false);
        navigate('/login', { notice: e.code === AppError.TOO_MANY_ATTEMPTS ? 'Too many wrong tries, so you were logged out to protect your account. Log in again.' : 'You were logged out. Log in again.' }, true);
        return;
      }
      passwordStage(e?.code === AppError.REAUTH_EXPIRED || !e ? 'This confirmation has ended. Enter your password to start again.' : e.message);
    };

    const passwordStage = (message = '') => {
      const input = h('input', { type: 'password', autocomplete: 'current-password', required: true });
      const f = field('reauth-password', 'Password', input);
      const alert = alertBox();
      const submit = h('button', { type: 'submit', class: 'primary' }, 'Continue');
      const form = actionForm(
        {
          submit,
          busyLabel: 'Checking…',
          alert,
          fields: [f],
          check: () => (input.value ? undefined : 'Enter your password.'),
          invalid: f,
          send: async () => {
            const r = await api<SecondFactorStart>('POST', '/session/reauth', { password: input.value });
            passkey = r.passkey === true;
            if (r.state === 'approve') approveStage(r);
            else codeStage(r.via ?? 'sms', { notice: r.message ?? '', error: !!r.message, retryAfter: r.retry_after });
          },
          failed: (e2) => {
            if (e2?.code === AppError.INVALID_CREDENTIALS) return fieldError(f, 'That password is not right. Try again.');
            if (e2?.status === 429) return setAlert(alert, `Too many attempts. Try again in ${formatWait(e2.retry_after ?? 60)}.`);
            if (e2?.status === 401) return ended(e2);
            setAlert(alert, e2?.message ?? 'Something went wrong. Try again.');
          },
        },
        alert,
        f.wrap,
        h('div', { class: 'actions' }, submit, cancelButton()),
      );
      const withPasskey = accountHasPasskey && passkeysWorkHere();
      show(
        h('p', {}, 'Changing how you log in needs your password and your phone again, so that nobody else can do it from this browser.'),
        form,
        ...(withPasskey ? [h('p', { class: 'hint' }, 'Or use one of your passkeys instead of both:'), h('div', { class: 'actions' }, passkeyStepUpButton({ alert, password: input, done: () => finish(true), ended }))] : []),
      );
      setAlert(alert, message);
      input.focus();
    };

    const approveStage = (r: SecondFactorStart) => {
      const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' }, 'Waiting for your approval…');
      const alert = alertBox();
      const expiry = expiryNote(r.expires_at);
      const useCode = h('button', { type: 'button', class: 'secondary', onclick: () => codeStage('app', {}) }, 'Use a code instead');
      const lost = h('button', { type: 'button', class: 'link', onclick: () => codeStage('app', { recovery: true }) }, 'Lost your phone? Use a recovery code');
      show(
        alert,
        h('p', {}, 'Open your Twofold Authenticator and approve. It will ask for this number:'),
        ...approvalNumber(r.number, r.details),
        status,
        expiry.el,
        h('div', { class: 'actions' }, useCode, passkey ? passkeyFactorButton({ alert, done: () => finish(true), ended }) : null, cancelButton()),
        h('p', { class: 'switch' }, lost),
      );
      const stopWatch = watchApproval(status, {
        done: () => finish(true),
        failed: ended,
        denied: () => codeStage('app', { notice: 'The request was denied on your phone. If that was a mistake, enter a code from your authenticator app or get one by text message.', error: true }),
        expired: () => codeStage('app', { notice: 'The request expired. Enter a code from your authenticator app or get one by text message.', error: true }),
        gone: () => ended(undefined),
      });
      stopStage = () => {
        stopWatch();
        expiry.stop();
      };
      title.focus();
    };

    const codeStage = (via: 'sms' | 'app', o: { notice?: string; error?: boolean; retryAfter?: number | undefined; recovery?: boolean }) => {
      const entry = codeEntry({ name: 'reauth-code', via, autofocus: false, passkey, done: () => finish(true), ended });
      show(entry.form, h('div', { class: 'actions' }, cancelButton()));
      stopStage = entry.stop;
      setAlert(entry.alert, o.notice ?? '', o.error ? 'error' : 'info');
      if (o.retryAfter) entry.startCoolDown(o.retryAfter);
      if (o.recovery) entry.setRecovery(true);
      else entry.input.focus();
    };

    document.body.append(dialog);
    dialog.showModal();
    passwordStage();
  });
}

/**
 * Run a factor change; when the server wants a fresh proof (403 REAUTH_REQUIRED), ask for it and
 * run the change again. `{ ok: false }`: the person cancelled the confirmation.
 */
export async function withStepUp<T>(action: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false }> {
  try {
    return { ok: true, value: await action() };
  } catch (err) {
    if (failureOf(err)?.code !== AppError.REAUTH_REQUIRED) throw err;
  }
  if (!(await confirmItsYou())) return { ok: false };
  return { ok: true, value: await action() };
}
