import { AppError } from '../../src/app/error-codes.js';
import { h, mount } from '../shared/dom.js';
import { api, type ApiError } from './api.js';
import { navigate, onLeave } from './router.js';
import { actionForm, alertBox, coolDown, expiryNote, failureOf, field, fieldError, formatWait, otpInput, otpValue, setAlert, wrongCodeText } from './ui.js';

/** The number the authenticator will ask for, and the request's details. */
export function approvalNumber(number: string | null | undefined, details: Record<string, string> | undefined): Node[] {
  return [
    number ? h('p', { class: 'match-number', 'aria-label': `Matching number ${number.split('').join(' ')}`, 'data-testid': 'match-number' }, number) : h('p', {}, 'Approve the request in the app.'),
    ...(details && Object.keys(details).length ? [h('dl', { class: 'details' }, Object.entries(details).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))] : []),
  ];
}

/** What the second-factor routes answer on success: a login, or a step-up of a logged-in session. */
interface FactorDone {
  state: 'logged_in' | 'reauthenticated';
  reauth_until?: number;
  recovery_codes_remaining?: number;
}

/**
 * The live status of an approval request (login or step-up): one EventSource, no polling. The
 * server sends the current state at once and the new one the moment the signed callback arrives;
 * once approved, `POST /session/complete` finishes it. Returns a stop function.
 */
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
export function codeEntry(o: { name: string; via: 'sms' | 'app'; autofocus: boolean; done(r: FactorDone, recovery: boolean): void; ended(e: ApiError): void; remember?: () => boolean }): CodeEntry {
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

  const ends = (e: ApiError | undefined): boolean => e?.status === 401 || e?.code === AppError.TOO_MANY_ATTEMPTS || e?.code === AppError.REAUTH_EXPIRED;

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
}

// ---------------------------------------------------------------- step-up ("Confirm it's you")

/**
 * "Confirm it's you": the step-up a factor change needs when the server answers 403
 * REAUTH_REQUIRED. A modal dialog (focus moves into it and stays there; Escape or Cancel closes
 * it): the password, then the second factor as at login (the number to approve on the phone, or a
 * code, or a recovery code) through the login's own routes on this session. Resolves true once
 * confirmed, false when cancelled.
 */
function confirmItsYou(): Promise<boolean> {
  return new Promise((resolve) => {
    const title = h('h2', { id: 'stepup-title', tabindex: '-1' }, 'Confirm it’s you');
    const body = h('div', {});
    const dialog = h('dialog', { class: 'stepup', 'aria-labelledby': 'stepup-title' }, title, body);
    let stopStage: (() => void) | undefined;
    let settled = false;
    const finish = (ok: boolean) => {
      if (settled) return;
      settled = true;
      stopStage?.();
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
        navigate('/login', { notice: e.code === AppError.TOO_MANY_ATTEMPTS ? 'Too many wrong codes, so you were logged out to protect your account. Log in again.' : 'You were logged out. Log in again.' }, true);
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
      show(h('p', {}, 'Changing how you log in needs your password and your phone again, so that nobody else can do it from this browser.'), form);
      setAlert(alert, message);
      input.focus();
    };

    const approveStage = (r: SecondFactorStart) => {
      const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' }, 'Waiting for your approval…');
      const expiry = expiryNote(r.expires_at);
      const useCode = h('button', { type: 'button', class: 'secondary', onclick: () => codeStage('app', {}) }, 'Use a code instead');
      const lost = h('button', { type: 'button', class: 'link', onclick: () => codeStage('app', { recovery: true }) }, 'Lost your phone? Use a recovery code');
      show(
        h('p', {}, 'Open your Twofold Authenticator and approve. It will ask for this number:'),
        ...approvalNumber(r.number, r.details),
        status,
        expiry.el,
        h('div', { class: 'actions' }, useCode, cancelButton()),
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
      const entry = codeEntry({ name: 'reauth-code', via, autofocus: false, done: () => finish(true), ended });
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
