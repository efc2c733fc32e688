import './styles.css';
import { AsYouType, parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import { h, mount } from '../shared/dom.js';
import { api, ApiFailure, type ApiError } from './api.js';
import { countryList, guessCountry } from './countries.js';
import { safeReturnTo } from '../shared/return-to.js';
import { AppError } from '../../src/app/error-codes.js';

/** What one screen hands to the next (kept in memory; the server is the source of truth). */
interface Flow {
  number?: string | null;
  details?: Record<string, string>;
  expiresAt?: number;
  via?: 'sms' | 'app';
  notice?: string;
  retryAfter?: number;
  /** Where to go once logged in (a same-origin path). */
  returnTo?: string;
  /** Open the code screen ready for a recovery code. */
  recovery?: boolean;
  /** Signup's phone step: the number the code went to, and the tries left. */
  phone?: string;
  attemptsLeft?: number;
}

const root = document.getElementById('app')!;
let flow: Flow = {};
/** Cleanups of the current screen (event sources, timers, an open dialog), run when it is left. */
let cleanups: (() => void)[] = [];
const onLeave = (fn: () => void) => void cleanups.push(fn);

const screens: Record<string, () => Promise<void> | void> = {
  '/': home,
  '/signup': () => (new URLSearchParams(location.search).get('step') === 'phone' ? signupVerify() : signup()),
  '/login': login,
  '/login/approve': approve,
  '/login/code': code,
  '/account': account,
};

/** Client-side navigation: no page load, history kept. */
export function navigate(path: string, next: Flow = {}, replace = false): void {
  flow = next;
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  void render();
}

async function render(): Promise<void> {
  const done = cleanups;
  cleanups = [];
  for (const fn of done) fn();
  const screen = screens[location.pathname] ?? home;
  await screen();
  // Move focus to the screen's heading (or its first field) for keyboard and screen-reader users.
  const target = root.querySelector<HTMLElement>('main [autofocus]') ?? root.querySelector<HTMLElement>('h1');
  target?.focus();
}

window.addEventListener('popstate', () => {
  flow = {};
  void render();
});

function link(path: string, text: string, next: Flow = {}): HTMLAnchorElement {
  return h('a', {
    href: path,
    onclick: (e: MouseEvent) => {
      if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
      e.preventDefault();
      navigate(path, next);
    },
  }, text);
}

function page(title: string, ...content: (Node | null)[]): void {
  const header = h('header', { class: 'top' }, link('/', 'Twofold'));
  const main = h('main', { class: 'card' }, h('h1', { tabindex: '-1' }, title), ...content.filter((c): c is Node => c !== null));
  mount(root, header, main);
  document.title = `${title} · Twofold`;
}

/** A labelled input with an error slot wired through aria-describedby. */
function field<T extends HTMLInputElement | HTMLSelectElement>(name: string, label: string, input: T, hint?: string): { wrap: HTMLElement; error: HTMLElement; input: T; label: HTMLLabelElement; hint: HTMLElement | null } {
  const id = `f-${name}`;
  input.id = id;
  input.name = name;
  const error = h('p', { class: 'field-error', id: `${id}-error`, 'aria-live': 'polite' });
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  input.setAttribute('aria-describedby', [hintEl ? `${id}-hint` : '', `${id}-error`].filter(Boolean).join(' '));
  const labelEl = h('label', { for: id }, label);
  const wrap = h('div', { class: 'field' }, labelEl, input, hintEl, error);
  return { wrap, error, input, label: labelEl, hint: hintEl };
}

function alertBox(): HTMLElement {
  const box = h('div', { class: 'alert', role: 'alert', 'aria-live': 'assertive' });
  box.hidden = true;
  return box;
}

function setAlert(box: HTMLElement, message: string, kind: 'error' | 'info' = 'error'): void {
  box.textContent = message;
  box.dataset.kind = kind;
  box.hidden = !message;
}

function busy(button: HTMLButtonElement, on: boolean, label?: string): void {
  button.disabled = on;
  button.setAttribute('aria-busy', String(on));
  if (label) button.textContent = label;
}

function formatWait(seconds: number): string {
  return seconds >= 120 ? `${Math.ceil(seconds / 60)} minutes` : `${seconds} seconds`;
}

const failureOf = (err: unknown): ApiError | undefined => (err instanceof ApiFailure ? err.error : undefined);

// ---------------------------------------------------------------- shared pieces of code steps

/** The input of a code sent by text message or shown by an authenticator. */
function otpInput(autofocus = false): HTMLInputElement {
  return h('input', {
    type: 'text',
    inputmode: 'numeric',
    autocomplete: 'one-time-code',
    pattern: '[0-9]*',
    maxlength: '10',
    required: true,
    autofocus,
    class: 'code-input',
  });
}

/** A code typed with spaces or dashes, as digits; undefined when it is not 6–10 digits. */
function otpValue(input: HTMLInputElement): string | undefined {
  const value = input.value.replace(/[\s-]+/g, '');
  return /^\d{6,10}$/.test(value) ? value : undefined;
}

/** A wrong code's message with the tries that are left, for the field's error line. */
function wrongCodeText(e: ApiError | undefined, fallback = 'That code did not work.'): string {
  const left = e?.attempts_left;
  return `${e?.message ?? fallback}${left !== undefined ? ` ${left} ${left === 1 ? 'try' : 'tries'} left.` : ''}`;
}

/** Show `text` as the field's error and put the cursor back in it. */
function fieldError(f: { error: HTMLElement; input: HTMLInputElement }, text: string): void {
  f.error.textContent = text;
  f.input.setAttribute('aria-invalid', 'true');
  f.input.select();
  f.input.focus();
}

/**
 * A "Resend code" button's cool-down: disabled, with a countdown under it, until the server
 * allows another code. The countdown is not a live region (a per-second announcement would
 * drown everything else); the alert that says the code was sent also says how long to wait.
 */
function coolDown(button: HTMLButtonElement): { note: HTMLElement; start(seconds: number): void; stop(): void } {
  const note = h('p', { class: 'hint', 'data-testid': 'cool-down' });
  let timer: number | undefined;
  const stop = () => {
    window.clearInterval(timer);
    timer = undefined;
  };
  const start = (seconds: number) => {
    const until = Date.now() + seconds * 1000;
    const tick = () => {
      const left = Math.ceil((until - Date.now()) / 1000);
      if (left <= 0) {
        stop();
        button.disabled = false;
        note.textContent = '';
        return;
      }
      button.disabled = true;
      note.textContent = `You can ask for another code in ${left} s.`;
    };
    stop();
    tick();
    if (timer === undefined && Date.now() < until) timer = window.setInterval(tick, 1000);
  };
  return { note, start, stop };
}

/** "The request expires in 1:23." under a number to approve; not a live region either. */
function expiryNote(expiresAt: number | undefined): { el: HTMLElement; stop(): void } {
  const el = h('p', { class: 'hint center' });
  const show = () => {
    if (!expiresAt) return;
    const left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
    el.textContent = `The request expires in ${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}.`;
  };
  show();
  const timer = window.setInterval(show, 1000);
  return { el, stop: () => window.clearInterval(timer) };
}

/** The number the authenticator will ask for, and the request's details. */
function approvalNumber(number: string | null | undefined, details: Record<string, string> | undefined): Node[] {
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
function watchApproval(status: HTMLElement, on: { done(r: FactorDone): void; failed(e: ApiError | undefined): void; denied(): void; expired(): void; gone(): void }): () => void {
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
        on.done(await api<FactorDone>('POST', '/session/complete', {}));
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
function codeEntry(o: { name: string; via: 'sms' | 'app'; autofocus: boolean; done(r: FactorDone, recovery: boolean): void; ended(e: ApiError): void }): CodeEntry {
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

  const failed = (err: unknown) => {
    busy(submit, false, 'Verify');
    const e2 = failureOf(err);
    if (ends(e2)) return o.ended(e2!);
    fieldError(f, wrongCodeText(e2));
  };

  const form = h(
    'form',
    {
      novalidate: true,
      onsubmit: async (e: SubmitEvent) => {
        e.preventDefault();
        setAlert(alert, '');
        f.error.textContent = '';
        if (recoveryMode) {
          if (!/^[0-9a-z]{10}$/i.test(input.value.trim().replace(/[\s-]/g, ''))) return fieldError(f, 'Enter a recovery code: 10 letters and digits, like abcde-12345.');
        } else if (!otpValue(input)) {
          return fieldError(f, 'Enter the 6-digit code.');
        }
        busy(submit, true, 'Verifying…');
        try {
          const r = recoveryMode
            ? await api<FactorDone>('POST', '/session/recover', { code: input.value.trim() })
            : await api<FactorDone>('POST', '/session/verify', { code: otpValue(input) });
          o.done(r, recoveryMode);
        } catch (err) {
          failed(err);
        }
      },
    },
    alert,
    f.wrap,
    h('div', { class: 'actions' }, submit, resend),
    cool.note,
    h('p', { class: 'switch' }, switchMode),
  );
  return { form, alert, input, setRecovery, startCoolDown: cool.start, stop: cool.stop };
}

// ---------------------------------------------------------------- screens

async function home(): Promise<void> {
  page(
    'Two-factor authentication',
    h('p', {}, 'Sign in with your password, then approve the login on your phone — or type a code from your authenticator app or a text message.'),
    h('nav', { class: 'actions', 'aria-label': 'Get started' }, link('/login', 'Log in'), link('/signup', 'Create an account')),
  );
  try {
    await api('GET', '/user');
    root.querySelector('nav.actions')?.replaceChildren(link('/account', 'Go to your account'));
  } catch {
    /* not logged in */
  }
}

/**
 * Signup's phone step: a query on /signup rather than a path of its own, so that a reload there
 * is served the app (the server serves it only on its list of SPA routes).
 */
const SIGNUP_PHONE_STEP = '/signup?step=phone';

/** What `POST /user` and `GET /user/signup` say about a signup waiting for its phone code. */
interface PendingSignupView {
  state: 'verify_phone';
  phone: string;
  retry_after: number;
  attempts_left: number;
  expires_at: number;
}

function signup(): void {
  const countries = countryList();
  const initial = guessCountry();
  const select = h(
    'select',
    { autocomplete: 'country' },
    countries.map((c) => h('option', { value: c.code, selected: c.code === initial }, `${c.name} (+${c.dial})`)),
  );
  const fName = field('fullName', 'Full name', h('input', { type: 'text', autocomplete: 'name', required: true, maxlength: '100', autofocus: true }));
  const fEmail = field('email', 'Email', h('input', { type: 'email', autocomplete: 'email', required: true, maxlength: '254' }));
  const fPassword = field('password', 'Password', h('input', { type: 'password', autocomplete: 'new-password', required: true, minlength: '8', maxlength: '256' }), 'At least 8 characters; common passwords are refused.');
  const fCountry = field('countryCode', 'Country', select);
  const phoneInput = h('input', { type: 'tel', autocomplete: 'tel-national', required: true, maxlength: '32', inputmode: 'tel' });
  const fPhone = field('phone', 'Mobile phone', phoneInput, 'We text a code to this number to check it is yours, and later login codes.');
  const phoneStatus = h('p', { class: 'hint', 'aria-live': 'polite' });
  fPhone.wrap.append(phoneStatus);

  const checkPhone = (): boolean => {
    const country = select.value as CountryCode;
    const value = phoneInput.value.trim();
    if (!value) {
      phoneStatus.textContent = '';
      phoneInput.removeAttribute('aria-invalid');
      return false;
    }
    const parsed = parsePhoneNumberFromString(value, country);
    const ok = !!parsed?.isValid() && parsed.country === country;
    phoneInput.setAttribute('aria-invalid', String(!ok));
    phoneStatus.dataset.ok = String(ok);
    phoneStatus.textContent = ok ? `✓ ${parsed!.formatInternational()}` : `Not a valid number for this country yet (${new AsYouType(country).input(value)})`;
    return ok;
  };
  phoneInput.addEventListener('input', checkPhone);
  select.addEventListener('change', checkPhone);

  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create account');
  const fields = { fullName: fName, email: fEmail, password: fPassword, countryCode: fCountry, phone: fPhone };
  const form = h(
    'form',
    {
      novalidate: true,
      onsubmit: async (e: SubmitEvent) => {
        e.preventDefault();
        for (const f of Object.values(fields)) f.error.textContent = '';
        setAlert(alert, '');
        if (!checkPhone()) {
          fPhone.error.textContent = 'Enter a valid mobile number for the selected country.';
          phoneInput.focus();
          return;
        }
        busy(submit, true, 'Creating…');
        try {
          const r = await api<PendingSignupView>('POST', '/user', {
            fullName: fName.input.value,
            email: fEmail.input.value,
            password: fPassword.input.value,
            countryCode: select.value,
            phone: phoneInput.value,
          });
          navigate(SIGNUP_PHONE_STEP, { phone: r.phone, retryAfter: r.retry_after, attemptsLeft: r.attempts_left });
        } catch (err) {
          busy(submit, false, 'Create account');
          const e2 = failureOf(err);
          let focused = false;
          for (const [k, msg] of Object.entries(e2?.fields ?? {})) {
            const f = fields[k as keyof typeof fields];
            if (!f) continue;
            f.error.textContent = `${msg.charAt(0).toUpperCase()}${msg.slice(1)}`;
            f.input.setAttribute('aria-invalid', 'true');
            if (!focused) {
              f.input.focus();
              focused = true;
            }
          }
          if (!focused) {
            if (e2?.status === 429) setAlert(alert, `Too many sign-ups or codes from here. Try again in ${formatWait(e2.retry_after ?? 60)}.`);
            else setAlert(alert, e2?.message ?? 'Sign-up failed. Please try again.');
          }
        }
      },
    },
    alert,
    fName.wrap,
    fEmail.wrap,
    fPassword.wrap,
    fCountry.wrap,
    fPhone.wrap,
    submit,
  );
  setAlert(alert, flow.notice ?? '', 'info');
  page('Create an account', form, h('p', {}, 'Already have an account? ', link('/login', 'Log in')));
}

/** Signup's second step: the code texted to the phone creates the account. */
async function signupVerify(): Promise<void> {
  let view: Pick<PendingSignupView, 'phone' | 'retry_after' | 'attempts_left'>;
  if (flow.phone) {
    view = { phone: flow.phone, retry_after: flow.retryAfter ?? 0, attempts_left: flow.attemptsLeft ?? 5 };
  } else {
    // Loaded directly (reload, or back to this step): ask the server where the signup stands.
    try {
      view = await api<PendingSignupView>('GET', '/user/signup');
    } catch (err) {
      const e2 = failureOf(err);
      navigate('/signup', { notice: e2?.code === AppError.SIGNUP_EXPIRED ? 'Your sign-up was not finished in time, so nothing was created. Fill in the form again.' : (e2?.message ?? 'Fill in the form to create an account.') }, true);
      return;
    }
  }
  const input = otpInput(true);
  const f = field('phone-code', 'Code from the text message', input, `The code has 6 digits. It works for 10 minutes.`);
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Verify');
  const resend = h('button', { type: 'button', class: 'secondary' }, 'Resend code');
  const cool = coolDown(resend);
  onLeave(cool.stop);

  /** The signup is over (too many wrong codes, or it expired): say so and lead back to the form. */
  const over = (message: string) => {
    cool.stop();
    page(
      'Sign-up stopped',
      h('div', { class: 'alert', role: 'alert' }, message),
      h('p', {}, 'Nothing was created. You can fill in the form again to get a new code.'),
      h('nav', { class: 'actions' }, link('/signup', 'Fill in the form again')),
    );
    root.querySelector<HTMLElement>('h1')?.focus();
  };
  const overMessage = (e2: ApiError) => (e2.code === AppError.TOO_MANY_ATTEMPTS ? 'Too many wrong codes, so this sign-up was stopped.' : 'This sign-up has ended: the code was not entered in time.');

  resend.addEventListener('click', async () => {
    setAlert(alert, '');
    resend.disabled = true;
    try {
      const r = await api<{ retry_after: number }>('POST', '/user/resend-phone', {});
      setAlert(alert, `We sent a new code to ${view.phone}. Only the newest code works. You can ask for another one in ${r.retry_after} seconds.`, 'info');
      f.error.textContent = '';
      input.removeAttribute('aria-invalid');
      cool.start(r.retry_after);
    } catch (err) {
      const e2 = failureOf(err);
      if (e2?.code === AppError.SIGNUP_EXPIRED) return over(overMessage(e2));
      if (e2?.code === AppError.COOL_DOWN) setAlert(alert, `Please wait ${e2.retry_after ?? 30} seconds before asking for another code.`);
      else if (e2?.status === 429) setAlert(alert, `Too many codes were sent to this number. Try again in ${formatWait(e2.retry_after ?? 60)}.`);
      else setAlert(alert, e2?.message ?? 'Could not send a code. Try again in a moment.');
      if (e2?.retry_after) cool.start(e2.retry_after);
      else resend.disabled = false;
    }
    input.focus();
  });

  const form = h(
    'form',
    {
      novalidate: true,
      onsubmit: async (e: SubmitEvent) => {
        e.preventDefault();
        setAlert(alert, '');
        f.error.textContent = '';
        const value = otpValue(input);
        if (!value) return fieldError(f, 'Enter the 6-digit code from the text message.');
        busy(submit, true, 'Verifying…');
        try {
          await api('POST', '/user/verify-phone', { code: value });
          navigate('/account', { notice: 'Welcome! Your phone number is confirmed and your account is ready. Add an authenticator to approve logins from your phone.' }, true);
        } catch (err) {
          busy(submit, false, 'Verify');
          const e2 = failureOf(err);
          if (e2 && (e2.code === AppError.TOO_MANY_ATTEMPTS || e2.code === AppError.SIGNUP_EXPIRED)) return over(overMessage(e2));
          if (e2?.code === AppError.CODE_EXPIRED) return fieldError(f, wrongCodeText({ ...e2, message: 'That code has expired or a newer one was sent. Use the newest code, or select “Resend code”.' }));
          fieldError(f, wrongCodeText(e2));
        }
      },
    },
    alert,
    f.wrap,
    h('div', { class: 'actions' }, submit, resend),
    cool.note,
  );
  page(
    'Confirm your phone',
    h('p', {}, 'Enter the code we texted to ', h('strong', { 'data-testid': 'signup-phone', class: 'nowrap' }, view.phone), '.'),
    form,
    h('p', {}, 'Wrong number? ', link('/signup', 'Go back to the form')),
  );
  if (view.attempts_left < 5) f.error.textContent = `${view.attempts_left} ${view.attempts_left === 1 ? 'try' : 'tries'} left.`;
  if (view.retry_after > 0) cool.start(view.retry_after);
}

function login(): void {
  const next = safeReturnTo(new URLSearchParams(location.search).get('next'));
  const fEmail = field('email', 'Email', h('input', { type: 'email', autocomplete: 'username', required: true, autofocus: true }));
  const fPassword = field('password', 'Password', h('input', { type: 'password', autocomplete: 'current-password', required: true }));
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Log in');
  const form = h(
    'form',
    {
      novalidate: true,
      onsubmit: async (e: SubmitEvent) => {
        e.preventDefault();
        setAlert(alert, '');
        if (!fEmail.input.value || !fPassword.input.value) {
          setAlert(alert, 'Enter your email and password.');
          return;
        }
        busy(submit, true, 'Checking…');
        try {
          const r = await api<SecondFactorStart & { return_to?: string }>('POST', '/session', {
            email: fEmail.input.value,
            password: fPassword.input.value,
            return_to: next,
          });
          const returnTo = safeReturnTo(r.return_to);
          if (r.state === 'approve') {
            navigate('/login/approve', { number: r.number ?? null, details: r.details ?? {}, expiresAt: r.expires_at ?? 0, returnTo });
          } else {
            navigate('/login/code', {
              returnTo,
              via: r.via ?? 'sms',
              ...(r.message ? { notice: r.message } : {}),
              ...(r.retry_after ? { retryAfter: r.retry_after } : {}),
            });
          }
        } catch (err) {
          busy(submit, false, 'Log in');
          const e2 = failureOf(err);
          if (e2?.code === AppError.ACCOUNT_LOCKED) setAlert(alert, 'Too many wrong passwords were entered for this account. Log in from a browser you have used for it before, or try again later.');
          else if (e2?.status === 429) setAlert(alert, `Too many attempts. Try again in ${formatWait(e2.retry_after ?? 60)}.`);
          else setAlert(alert, e2?.message ?? 'Login failed.');
          fPassword.input.select();
          fPassword.input.focus();
        }
      },
    },
    alert,
    fEmail.wrap,
    fPassword.wrap,
    submit,
  );
  setAlert(alert, flow.notice ?? '', 'info');
  page('Log in', form, h('p', {}, 'New here? ', link('/signup', 'Create an account')));
}

/** What the password step (`POST /session`, `POST /session/reauth`) answers. */
interface SecondFactorStart {
  state: 'approve' | 'code';
  number?: string | null;
  details?: Record<string, string>;
  expires_at?: number;
  via?: 'sms' | 'app';
  message?: string;
  retry_after?: number;
}

async function approve(): Promise<void> {
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
  page(
    'Approve on your phone',
    h('p', {}, 'Open your Twofold Authenticator and approve this login. It will ask for this number:'),
    ...approvalNumber(number, details),
    status,
    expiry.el,
    h('div', { class: 'actions' }, useCode),
    h('p', { class: 'switch' }, lostPhone),
  );
  onLeave(expiry.stop);
  const stop = watchApproval(status, {
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

function code(): void {
  const returnTo = flow.returnTo;
  const entry = codeEntry({
    name: 'code',
    via: flow.via ?? 'app',
    autofocus: true,
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
  page('Enter your code', entry.form, h('p', {}, link('/login', 'Start over')));
  if (flow.recovery) entry.setRecovery(true);
  setAlert(entry.alert, flow.notice ?? '', flow.notice?.includes('denied') || flow.notice?.includes('expired') ? 'error' : 'info');
  if (flow.retryAfter) entry.startCoolDown(flow.retryAfter);
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
      const form = h(
        'form',
        {
          novalidate: true,
          onsubmit: async (e: SubmitEvent) => {
            e.preventDefault();
            setAlert(alert, '');
            f.error.textContent = '';
            if (!input.value) return fieldError(f, 'Enter your password.');
            busy(submit, true, 'Checking…');
            try {
              const r = await api<SecondFactorStart>('POST', '/session/reauth', { password: input.value });
              if (r.state === 'approve') approveStage(r);
              else codeStage(r.via ?? 'sms', { notice: r.message ?? '', error: !!r.message, retryAfter: r.retry_after });
            } catch (err) {
              busy(submit, false, 'Continue');
              const e2 = failureOf(err);
              if (e2?.code === AppError.INVALID_CREDENTIALS) return fieldError(f, 'That password is not right. Try again.');
              if (e2?.status === 429) return setAlert(alert, `Too many attempts. Try again in ${formatWait(e2.retry_after ?? 60)}.`);
              if (e2?.status === 401) return ended(e2);
              setAlert(alert, e2?.message ?? 'Something went wrong. Try again.');
            }
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
async function withStepUp<T>(action: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false }> {
  try {
    return { ok: true, value: await action() };
  } catch (err) {
    if (failureOf(err)?.code !== AppError.REAUTH_REQUIRED) throw err;
  }
  if (!(await confirmItsYou())) return { ok: false };
  return { ok: true, value: await action() };
}

// ---------------------------------------------------------------- account page

interface Device {
  id: string;
  name: string;
  created_at: number;
  last_seen_at: number | null;
}

interface TotpApp {
  id: string;
  label: string | null;
  created_at: number;
  confirmed_at: number | null;
  last_used_at: number | null;
  /** The one secret older accounts shared between their authenticators. */
  legacy: boolean;
}

interface Me {
  user: { fullName: string; email: string; countryCode: string; phone: string; totpAppConfirmed: boolean };
  devices: Device[];
  totp_apps?: TotpApp[];
  reauth_until?: number | null;
  devices_error?: string;
  recovery_codes: { remaining: number; generated_at: number | null };
  events: { id: number; at: number; type: string; outcome: string; ip: string | null; detail: Record<string, unknown> }[];
}

type AccountEvent = Me['events'][number];

/**
 * One line of the account's activity, as a sentence a person reads, and whether it is a warning
 * (something failed that the person did not do on purpose: a wrong password or code, a lockout).
 */
function describeEvent(e: AccountEvent): { text: string; warn: boolean } {
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
      return { text: 'You confirmed it’s you.', warn: false };
    case 'lockout':
      return { text: 'Codes were refused for a while after too many wrong ones.', warn: true };
    case 'login':
      return { text: `You logged in ${byKind[kind ?? ''] ?? ''}`.trim() + '.', warn: false };
    case 'logout':
      return { text: 'You logged out.', warn: false };
    default:
      return { text: `${e.type.replace(/_/g, ' ')} (${e.outcome})`, warn: !ok };
  }
}

const LEGACY_APP_NAME = 'Authenticator app (set up before each authenticator had its own key)';
const appName = (a: TotpApp) => (a.legacy ? LEGACY_APP_NAME : a.label ? `Authenticator app (${a.label})` : 'Authenticator app');
const when = (ms: number) => new Date(ms).toLocaleString();

/** The account's phone as people write it (+1 201 555 0123). */
const phoneText = (me: Me) => {
  const raw = `+${me.user.countryCode}${me.user.phone}`;
  return parsePhoneNumberFromString(raw)?.formatInternational() ?? `+${me.user.countryCode} ${me.user.phone}`;
};

/** Activation links: how often the page looks for the new authenticator while the QR is shown. */
const ACTIVATION_POLL_MS = 3000;

async function account(): Promise<void> {
  let me: Me;
  try {
    me = await api<Me>('GET', '/user');
  } catch {
    navigate('/login', { notice: 'Please log in.' }, true);
    return;
  }
  const notice = alertBox();
  setAlert(notice, flow.notice ?? '', 'info');
  const say = (message: string, kind: 'error' | 'info' = 'info') => setAlert(notice, message, kind);
  const loggedOut = () => navigate('/login', { notice: 'You were logged out. Log in again.' }, true);

  const factorsHeading = h('h2', { id: 'h-devices', tabindex: '-1' }, 'Authenticators');
  const factorList = h('ul', { class: 'devices', 'data-testid': 'factors' });
  const events = h('ol', { class: 'events' });

  /** Read the account again and redraw what may have changed. */
  const refresh = async (): Promise<boolean> => {
    try {
      me = await api<Me>('GET', '/user');
    } catch (err) {
      if (failureOf(err)?.status === 401) loggedOut();
      return false;
    }
    renderFactors();
    renderEvents();
    return true;
  };

  /** Remove one authenticator or app (after a confirm, and a step-up if needed). */
  const remove = async (button: HTMLButtonElement, question: string, path: string, removed: string) => {
    if (!window.confirm(question)) return;
    busy(button, true);
    try {
      const r = await withStepUp(() => api('DELETE', path, {}));
      if (!r.ok) {
        busy(button, false);
        say('Nothing was removed.');
        return;
      }
      await refresh();
      // What was said about setting something up may no longer be true.
      stopPolling();
      activationArea.replaceChildren();
      totpArea.replaceChildren();
      say(removed);
      factorsHeading.focus();
    } catch (err) {
      busy(button, false);
      const e2 = failureOf(err);
      if (e2?.status === 401) return loggedOut();
      say(e2?.message ?? 'Could not remove it. Try again.', 'error');
    }
  };

  const factorItem = (name: string, kind: string, about: string, onRemove: (b: HTMLButtonElement) => void): HTMLElement => {
    const button = h('button', { type: 'button', class: 'danger', 'aria-label': `Remove ${name}` }, 'Remove');
    button.addEventListener('click', () => onRemove(button));
    return h('li', { 'data-testid': 'factor' }, h('span', {}, h('strong', {}, name), h('br'), h('small', {}, `${kind} · ${about}`)), button);
  };

  function renderFactors(): void {
    const items: HTMLElement[] = [];
    for (const d of me.devices) {
      items.push(
        factorItem(d.name, 'Twofold Authenticator', `added ${when(d.created_at)}${d.last_seen_at ? ` · last used ${when(d.last_seen_at)}` : ''}`, (b) =>
          void remove(b, `Remove “${d.name}”? It will no longer approve logins or show codes for this account.`, `/user/authenticators/${encodeURIComponent(d.id)}`, `“${d.name}” was removed. It can no longer approve logins or show codes for this account.`),
        ),
      );
    }
    for (const a of me.totp_apps ?? []) {
      const name = appName(a);
      const about = a.legacy
        ? 'its codes may still show on authenticators you added before; removing it ends those codes'
        : `added ${when(a.confirmed_at ?? a.created_at)}${a.last_used_at ? ` · last used ${when(a.last_used_at)}` : ''}`;
      items.push(
        factorItem(name, a.legacy ? 'One code key shared by older authenticators' : 'Codes from another app', about, (b) =>
          void remove(
            b,
            a.legacy
              ? 'Remove the authenticator app set up before each authenticator had its own key? Codes from it will stop working, also on authenticators that still show them.'
              : `Remove “${name}”? Its codes will stop working for this account.`,
            `/user/totp-app/${encodeURIComponent(a.id)}`,
            a.legacy ? 'The older shared authenticator app key was removed. Its codes no longer work.' : `“${name}” was removed. Its codes no longer work.`,
          ),
        ),
      );
    }
    if (me.devices_error) items.push(h('li', { class: 'empty', role: 'status' }, `${me.devices_error} The list may be incomplete; reload the page to try again.`));
    else if (items.length === 0) items.push(h('li', { class: 'empty' }, `No authenticator yet. Logins use a code texted to ${phoneText(me)}.`));
    mount(factorList, ...items);
  }

  function renderEvents(): void {
    mount(
      events,
      ...me.events.map((e) =>
        ((d) =>
          h(
            'li',
            { 'data-outcome': d.warn ? 'failure' : 'ok' },
            h('time', { datetime: new Date(e.at).toISOString() }, when(e.at)),
            ' ',
            h('span', {}, d.text),
            e.ip ? h('small', {}, ` from ${e.ip}`) : null,
          ))(describeEvent(e)),
      ),
    );
  }
  renderFactors();
  renderEvents();

  // Add a Twofold Authenticator: a QR code and link, then the page watches for the new device.
  const activationArea = h('div', { class: 'reveal', 'aria-live': 'polite' });
  const addDevice = h('button', { type: 'button', class: 'primary' }, 'Add authenticator');
  let stopPolling = () => {};
  onLeave(() => stopPolling());
  const watchForDevice = (expiresAt: number): (() => void) => {
    const known = new Set(me.devices.map((d) => d.id));
    let timer: number | undefined;
    let stopped = false;
    const stop = () => {
      stopped = true;
      window.clearTimeout(timer);
    };
    const tick = async () => {
      if (stopped) return;
      if (Date.now() >= expiresAt) {
        stop();
        mount(activationArea, h('p', { class: 'field-error' }, 'This activation code has expired and no authenticator used it. Select “Add authenticator” to get a new one.'));
        return;
      }
      try {
        const fresh = await api<Me>('GET', '/user');
        if (stopped) return;
        const added = fresh.devices.find((d) => !known.has(d.id));
        if (added) {
          stop();
          me = fresh;
          renderFactors();
          renderEvents();
          mount(activationArea, h('p', { class: 'ok' }, `✓ “${added.name}” is set up and listed above. It will ask you to approve logins.`));
          return;
        }
      } catch (err) {
        if (failureOf(err)?.status === 401) {
          stop();
          return loggedOut();
        }
        // Anything else: try again at the next tick.
      }
      timer = window.setTimeout(() => void tick(), ACTIVATION_POLL_MS);
    };
    timer = window.setTimeout(() => void tick(), ACTIVATION_POLL_MS);
    return stop;
  };
  addDevice.addEventListener('click', async () => {
    stopPolling();
    busy(addDevice, true);
    try {
      const r = await withStepUp(() => api<{ activation: { link: string; qr_code: string; expires_at: number } }>('POST', '/user/authenticators', {}));
      if (r.ok) {
        const act = r.value.activation;
        const minutes = Math.max(1, Math.round((act.expires_at - Date.now()) / 60_000));
        mount(
          activationArea,
          h('p', {}, 'Scan this code with your phone, or open the link on the device you want to use. It works once and expires in ', String(minutes), ' minutes.'),
          h('img', { src: act.qr_code, alt: 'QR code of the activation link', width: '220', height: '220', class: 'qr' }),
          h('p', { class: 'break' }, h('a', { href: act.link, target: '_blank', rel: 'noopener', 'data-testid': 'activation-link' }, act.link)),
          h('p', { class: 'hint' }, 'This page shows the new authenticator as soon as it is activated.'),
        );
        stopPolling = watchForDevice(act.expires_at);
      }
    } catch (err) {
      const e2 = failureOf(err);
      if (e2?.status === 401) return loggedOut();
      mount(activationArea, h('p', { class: 'field-error' }, e2?.message ?? 'Could not create an activation link. Try again.'));
    }
    busy(addDevice, false);
  });

  // Add a third-party authenticator app (its own key): QR and key, then a first code confirms it.
  const totpArea = h('div', { class: 'reveal', 'aria-live': 'polite' });
  const addTotp = h('button', { type: 'button', class: 'secondary' }, 'Use another authenticator app');
  addTotp.addEventListener('click', async () => {
    busy(addTotp, true);
    try {
      const r = await withStepUp(() => api<{ id: string; uri: string; qr_code: string }>('POST', '/user/totp-app', {}));
      if (r.ok) showTotpSetup(r.value);
    } catch (err) {
      const e2 = failureOf(err);
      if (e2?.status === 401) return loggedOut();
      mount(totpArea, h('p', { class: 'field-error' }, e2?.message ?? 'Could not create a key for the app. Try again.'));
    }
    busy(addTotp, false);
  });
  const showTotpSetup = (s: { uri: string; qr_code: string }) => {
    let secret = '';
    try {
      secret = new URL(s.uri).searchParams.get('secret') ?? '';
    } catch {
      /* shown as the link only */
    }
    const input = otpInput();
    const f = field('totp-confirm', 'Code shown by the app', input, 'The 6-digit code the new app shows for Twofold.');
    const confirm = h('button', { type: 'submit', class: 'primary' }, 'Confirm');
    const form = h(
      'form',
      {
        novalidate: true,
        onsubmit: async (e: SubmitEvent) => {
          e.preventDefault();
          f.error.textContent = '';
          const value = otpValue(input);
          if (!value) return fieldError(f, 'Enter the 6-digit code the app shows.');
          busy(confirm, true);
          try {
            await api('POST', '/user/totp-app/confirm', { code: value });
            await refresh();
            mount(totpArea, h('p', { class: 'ok' }, '✓ Your authenticator app is set up and listed above. Its codes work when you log in.'));
            return;
          } catch (err) {
            const e2 = failureOf(err);
            if (e2?.status === 401) return loggedOut();
            fieldError(f, e2?.status === 429 ? `Too many wrong codes. Try again in ${formatWait(e2.retry_after ?? 60)}.` : (e2?.message ?? 'That code did not work. Try again.'));
          }
          busy(confirm, false);
        },
      },
      f.wrap,
      confirm,
    );
    mount(
      totpArea,
      h('p', {}, 'Scan this QR code with Google Authenticator, 1Password or any other authenticator app, then type the code it shows.'),
      h('img', { src: s.qr_code, alt: 'QR code for your authenticator app', width: '220', height: '220', class: 'qr' }),
      h('p', { hidden: !secret }, 'Can’t scan? Type this setup key into the app: ', h('code', { class: 'mono break', 'data-testid': 'totp-secret' }, secret.replace(/(.{4})(?=.)/g, '$1 '))),
      h('details', {}, h('summary', {}, 'Show the setup link'), h('p', { class: 'break mono', 'data-testid': 'totp-uri' }, s.uri)),
      form,
    );
    input.focus();
  };

  const recoverySection = recoveryCodes(me.recovery_codes);

  const logout = h('button', { type: 'button', class: 'secondary' }, 'Log out');
  logout.addEventListener('click', async () => {
    try {
      await api('DELETE', '/session', {});
    } catch {
      /* already logged out */
    }
    navigate('/login', { notice: 'You have been logged out.' }, true);
  });

  page(
    `Hello, ${me.user.fullName}`,
    notice,
    h('section', { 'aria-labelledby': 'h-profile' }, h('h2', { id: 'h-profile' }, 'Profile'), h('dl', { class: 'details' }, h('dt', {}, 'Email'), h('dd', {}, me.user.email), h('dt', {}, 'Phone'), h('dd', {}, phoneText(me)))),
    h(
      'section',
      { 'aria-labelledby': 'h-devices' },
      factorsHeading,
      h('p', { class: 'hint' }, 'Each one can prove it is you when you log in. Remove any you no longer have.'),
      factorList,
      h('div', { class: 'actions' }, addDevice, addTotp),
      activationArea,
      totpArea,
    ),
    recoverySection,
    h('section', { 'aria-labelledby': 'h-events' }, h('h2', { id: 'h-events' }, 'Recent activity'), events),
    h('div', { class: 'actions' }, logout),
  );
}

/** How many codes are left, with a warning when few are. */
function recoveryStatus(rc: Me['recovery_codes']): { text: string; warn: boolean } {
  if (rc.generated_at === null) return { text: 'You have no recovery codes yet. They let you log in if you lose your phone.', warn: true };
  const when = new Date(rc.generated_at).toLocaleDateString();
  if (rc.remaining === 0) return { text: `All your recovery codes (generated ${when}) are used. Generate new ones.`, warn: true };
  const few = rc.remaining <= 3;
  return { text: `${rc.remaining} of 10 recovery codes left (generated ${when}).${few ? ' You are running low: generate new ones.' : ''}`, warn: few };
}

/** The user page's "Recovery codes" section: status, (re)generate, and the new set shown once. */
function recoveryCodes(initial: Me['recovery_codes']): HTMLElement {
  let current = initial;
  const status = h('p', { 'data-testid': 'recovery-status' });
  const showStatus = () => {
    const s = recoveryStatus(current);
    status.textContent = s.text;
    status.className = s.warn ? 'warn' : '';
  };
  showStatus();
  const area = h('div', { class: 'reveal', 'aria-live': 'polite' });
  const generate = h('button', { type: 'button', class: 'secondary' }, current.generated_at === null ? 'Generate recovery codes' : 'Regenerate recovery codes');
  generate.addEventListener('click', async () => {
    if (current.generated_at !== null && !window.confirm('Generate new recovery codes? The codes you have now will stop working.')) return;
    busy(generate, true);
    try {
      const done = await withStepUp(() => api<{ codes: string[]; recovery_codes: Me['recovery_codes'] }>('POST', '/user/recovery-codes', {}));
      if (!done.ok) {
        busy(generate, false);
        return;
      }
      const r = done.value;
      current = r.recovery_codes;
      showStatus();
      generate.textContent = 'Regenerate recovery codes';
      const text = `Twofold recovery codes (generated ${new Date(current.generated_at ?? Date.now()).toLocaleString()})\nEach code works once.\n\n${r.codes.join('\n')}\n`;
      const list = h('ol', { class: 'recovery-codes', 'aria-label': 'Your new recovery codes', tabindex: '-1' }, r.codes.map((c) => h('li', { 'data-testid': 'recovery-code' }, c)));
      const copied = h('p', { class: 'hint', 'aria-live': 'polite' });
      const copy = h('button', { type: 'button', class: 'secondary' }, 'Copy');
      copy.addEventListener('click', async () => {
        try {
          await navigator.clipboard.writeText(r.codes.join('\n'));
          copied.textContent = 'Copied to the clipboard.';
        } catch {
          window.getSelection()?.selectAllChildren(list);
          copied.textContent = 'Could not copy automatically: the codes are selected, copy them with Ctrl+C.';
        }
      });
      const download = h('a', { class: 'button-like', download: 'twofold-recovery-codes.txt', href: URL.createObjectURL(new Blob([text], { type: 'text/plain' })) }, 'Download .txt');
      mount(
        area,
        h('p', { class: 'ok' }, 'Save these codes somewhere safe (a password manager, or printed). Each works once. They will not be shown again.'),
        list,
        h('div', { class: 'actions' }, copy, download),
        copied,
      );
      list.focus();
    } catch (err) {
      mount(area, h('p', { class: 'field-error' }, err instanceof ApiFailure ? err.error.message : 'Could not generate recovery codes.'));
    }
    busy(generate, false);
  });
  return h(
    'section',
    { 'aria-labelledby': 'h-recovery' },
    h('h2', { id: 'h-recovery' }, 'Recovery codes'),
    h('p', { class: 'hint' }, 'If you lose your phone, log in with your password and one of these codes instead of a code from the phone.'),
    status,
    h('div', { class: 'actions' }, generate),
    area,
  );
}

void render();
