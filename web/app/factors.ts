import { AppError } from '../../src/app/error-codes.js';
import { h } from '../shared/dom.js';
import { safeReturnTo } from '../shared/return-to.js';
import { api, type ApiError } from './api.js';
import { cancelPasskeyRequest, sayPasskeyFailure, signWithPasskey } from './passkeys.js';
import { navigate, onLeave } from './router.js';
import { actionForm, alertBox, busy, coolDown, failureOf, field, fieldError, otpInput, otpValue, setAlert, wrongCodeText } from './ui.js';

/** The number the authenticator will ask for, and the request's details. */
export function approvalNumber(number: string | null | undefined, details: Record<string, string> | undefined): Node[] {
  return [
    number ? h('p', { class: 'match-number', 'aria-label': `Matching number ${number.split('').join(' ')}`, 'data-testid': 'match-number' }, number) : h('p', {}, 'Approve the request in the app.'),
    ...(details && Object.keys(details).length ? [h('dl', { class: 'details' }, Object.entries(details).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))] : []),
  ];
}

/** What the second-factor routes answer on success: a login, or a step-up of a logged-in session. */
export interface FactorDone {
  state: 'logged_in' | 'reauthenticated';
  reauth_until?: number;
  recovery_codes_remaining?: number;
}

/**
 * The login's "Don't ask again on this browser for 30 days" box (never offered for a step-up);
 * `checked()` is what the second factor's request sends as `remember`.
 */
export function rememberBox(): { el: HTMLElement; checked(): boolean } {
  const box = h('input', { type: 'checkbox', id: 'f-remember', name: 'remember' });
  const el = h('p', { class: 'remember' }, box, ' ', h('label', { for: 'f-remember' }, 'Don’t ask again on this browser for 30 days'));
  return { el, checked: () => box.checked };
}

/** The body of a second factor's request: `remember` only when asked for. */
const withRemember = (body: Record<string, unknown>, remember?: () => boolean) => (remember?.() ? { ...body, remember: true } : body);

/** What ends a login's (or a step-up's) second step: it is gone, too many wrong tries, or it expired. */
const ends = (e: ApiError | undefined): boolean => e?.status === 401 || e?.code === AppError.TOO_MANY_ATTEMPTS || e?.code === AppError.REAUTH_EXPIRED;

/**
 * "Use a passkey" as the second step of a login or a step-up (offered when the server said the
 * account has one): fresh options, the browser's prompt, then `POST /session/passkey`, which
 * answers as a code does. Why it failed is said in `alert`; `ended` gets what ends the attempt.
 */
export function passkeyFactorButton(o: { alert: HTMLElement; done(r: FactorDone): void; ended(e: ApiError): void; remember?: () => boolean }): HTMLButtonElement {
  const label = 'Use a passkey';
  const button = h('button', { type: 'button', class: 'secondary' }, label);
  button.addEventListener('click', async () => {
    setAlert(o.alert, '');
    busy(button, true, 'Waiting for your passkey…');
    try {
      const response = await signWithPasskey('/session/passkey/options');
      o.done(await api<FactorDone>('POST', '/session/passkey', withRemember({ response }, o.remember)));
    } catch (err) {
      busy(button, false, label);
      const e = failureOf(err);
      if (ends(e)) return o.ended(e!);
      sayPasskeyFailure(o.alert, err);
    }
  });
  // Leaving the screen stops a prompt still open.
  onLeave(cancelPasskeyRequest);
  return button;
}

/**
 * The live status of an approval request (login or step-up): one EventSource, no polling. The
 * server sends the current state at once and the new one the moment the signed callback arrives;
 * once approved, `POST /session/complete` finishes it. Returns a stop function.
 */
export function watchApproval(status: HTMLElement, on: { done(r: FactorDone): void; failed(e: ApiError | undefined): void; denied(): void; expired(): void; gone(): void; remember?: () => boolean }): () => void {
  const es = new EventSource('/authy/status');
  let finished = false;
  const stop = () => {
    finished = true;
    es.close();
  };
  es.addEventListener('status', async (ev) => {
    const s = JSON.parse((ev as MessageEvent<string>).data) as { status: string };
    if (s.status === 'pending' || finished) return;
    stop();
    if (s.status === 'approved') {
      status.textContent = 'Approved. One moment…';
      try {
        on.done(await api<FactorDone>('POST', '/session/complete', withRemember({}, on.remember)));
      } catch (err) {
        on.failed(failureOf(err));
      }
    } else if (s.status === 'denied') on.denied();
    else on.expired();
  });
  es.addEventListener('error', () => {
    if (finished) return;
    // EventSource reconnects by itself; a closed stream means the login (or step-up) is gone.
    if (es.readyState === EventSource.CLOSED) {
      stop();
      on.gone();
    } else {
      status.textContent = 'Reconnecting…';
    }
  });
  return stop;
}

interface CodeEntry {
  form: HTMLFormElement;
  alert: HTMLElement;
  input: HTMLInputElement;
  setRecovery(on: boolean): void;
  startCoolDown(seconds: number): void;
  stop(): void;
}

/**
 * The code step of a login or a step-up: a code from an authenticator or a text message
 * (`/session/verify`), another text message (`/session/resend`), or a recovery code instead
 * (`/session/recover`). `ended` gets what ends the attempt (401, 403 TOO_MANY_ATTEMPTS,
 * 409 REAUTH_EXPIRED).
 */
export function codeEntry(o: { name: string; via: 'sms' | 'app'; autofocus: boolean; passkey?: boolean; done(r: FactorDone, recovery: boolean): void; ended(e: ApiError): void; remember?: () => boolean }): CodeEntry {
  const input = otpInput(o.autofocus);
  const otpHint = o.via === 'sms' ? 'We sent a 6-digit code by text message. A code from your authenticator app works too.' : 'Enter the 6-digit code from your authenticator app, or get one by text message.';
  const f = field(o.name, 'Verification code', input, otpHint);
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Verify');
  const resend = h('button', { type: 'button', class: 'secondary' }, o.via === 'sms' ? 'Resend code' : 'Text me a code');
  const cool = coolDown(resend);

  // Lost phone: the same field takes one of the saved recovery codes instead (letters and a dash,
  // so a plain text keyboard and no one-time-code autofill).
  let recoveryMode = false;
  const switchMode = h('button', { type: 'button', class: 'link' }, 'Use a recovery code');
  const setRecovery = (recovery: boolean) => {
    recoveryMode = recovery;
    input.value = '';
    input.removeAttribute('aria-invalid');
    f.error.textContent = '';
    setAlert(alert, '');
    if (recovery) {
      input.setAttribute('inputmode', 'text');
      input.setAttribute('autocomplete', 'off');
      input.setAttribute('autocapitalize', 'none');
      input.setAttribute('spellcheck', 'false');
      input.setAttribute('maxlength', '24');
      input.removeAttribute('pattern');
      input.classList.add('recovery');
      f.label.textContent = 'Recovery code';
      f.hint!.textContent = 'Enter one of the recovery codes you saved, like abcde-12345. Each code works once.';
      switchMode.textContent = 'Use a code from your phone instead';
    } else {
      input.setAttribute('inputmode', 'numeric');
      input.setAttribute('autocomplete', 'one-time-code');
      input.removeAttribute('autocapitalize');
      input.removeAttribute('spellcheck');
      input.setAttribute('maxlength', '10');
      input.setAttribute('pattern', '[0-9]*');
      input.classList.remove('recovery');
      f.label.textContent = 'Verification code';
      f.hint!.textContent = otpHint;
      switchMode.textContent = 'Use a recovery code';
    }
    resend.hidden = recovery;
    cool.note.hidden = recovery;
    input.focus();
  };
  switchMode.addEventListener('click', () => setRecovery(!recoveryMode));

  resend.addEventListener('click', async () => {
    setAlert(alert, '');
    resend.disabled = true;
    try {
      const r = await api<{ retry_after: number }>('POST', '/session/resend', {});
      setAlert(alert, `We sent a new code by text message. You can ask for another one in ${r.retry_after} seconds.`, 'info');
      f.error.textContent = '';
      resend.textContent = 'Resend code';
      cool.start(r.retry_after);
    } catch (err) {
      const e2 = failureOf(err);
      if (ends(e2)) return o.ended(e2!);
      setAlert(alert, e2?.message ?? 'Could not send a code. Try again in a moment.');
      if (e2?.retry_after) cool.start(e2.retry_after);
      else resend.disabled = false;
    }
    input.focus();
  });

  const recoveryProblem = () => (/^[0-9a-z]{10}$/i.test(input.value.trim().replace(/[\s-]/g, '')) ? undefined : 'Enter a recovery code: 10 letters and digits, like abcde-12345.');
  const form = actionForm(
    {
      submit,
      busyLabel: 'Verifying…',
      alert,
      fields: [f],
      check: () => (recoveryMode ? recoveryProblem() : otpValue(input) ? undefined : 'Enter the 6-digit code.'),
      invalid: f,
      send: async () => {
        const r = recoveryMode
          ? await api<FactorDone>('POST', '/session/recover', withRemember({ code: input.value.trim() }, o.remember))
          : await api<FactorDone>('POST', '/session/verify', withRemember({ code: otpValue(input) }, o.remember));
        o.done(r, recoveryMode);
      },
      failed: (e2) => (ends(e2) ? o.ended(e2!) : fieldError(f, wrongCodeText(e2))),
    },
    alert,
    f.wrap,
    h('div', { class: 'actions' }, submit, resend),
    cool.note,
    h('p', { class: 'switch' }, switchMode),
  );
  if (o.passkey) {
    const passkey = passkeyFactorButton({ alert, done: (r) => o.done(r, false), ended: o.ended, ...(o.remember ? { remember: o.remember } : {}) });
    form.append(h('div', { class: 'actions' }, passkey));
  }
  return { form, alert, input, setRecovery, startCoolDown: cool.start, stop: cool.stop };
}

/** What the password step (`POST /session`, `POST /session/reauth`) answers. */
export interface SecondFactorStart {
  /** `logged_in`: a remembered browser, the password was enough. */
  state: 'approve' | 'code' | 'logged_in';
  number?: string | null;
  details?: Record<string, string>;
  expires_at?: number;
  via?: 'sms' | 'app';
  message?: string;
  retry_after?: number;
  /** The account has a passkey that may be the second step ("Use a passkey"). */
  passkey?: boolean;
  /** Where to go once logged in (the login's answers). */
  return_to?: string;
}

/**
 * Go on from a login's first step (a password, or a passkey that did not check who holds it):
 * logged in already, a number to approve, or a code to enter.
 */
export function continueLogin(r: SecondFactorStart): void {
  const returnTo = safeReturnTo(r.return_to);
  const passkey = r.passkey === true;
  if (r.state === 'logged_in') {
    navigate(returnTo, {}, true);
  } else if (r.state === 'approve') {
    navigate('/login/approve', { number: r.number ?? null, details: r.details ?? {}, expiresAt: r.expires_at ?? 0, returnTo, passkey });
  } else {
    navigate('/login/code', {
      returnTo,
      via: r.via ?? 'sms',
      passkey,
      ...(r.message ? { notice: r.message } : {}),
      ...(r.retry_after ? { retryAfter: r.retry_after } : {}),
    });
  }
}
