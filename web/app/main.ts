import './styles.css';
import { AsYouType, parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import { h, mount } from '../shared/dom.js';
import { api, ApiFailure } from './api.js';
import { countryList, guessCountry } from './countries.js';
import { safeReturnTo } from '../shared/return-to.js';

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
}

const root = document.getElementById('app')!;
let flow: Flow = {};
/** Cleanup of the current screen (event sources, timers). */
let cleanup: (() => void) | undefined;

const screens: Record<string, () => Promise<void> | void> = {
  '/': home,
  '/signup': signup,
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
  cleanup?.();
  cleanup = undefined;
  const screen = screens[location.pathname] ?? home;
  await screen();
  // Move focus to the screen's heading (or its first field) for keyboard and screen-reader users.
  const target = root.querySelector<HTMLElement>('[autofocus]') ?? root.querySelector<HTMLElement>('h1');
  target?.focus();
}

window.addEventListener('popstate', () => {
  flow = {};
  void render();
});

function link(path: string, text: string): HTMLAnchorElement {
  return h('a', {
    href: path,
    onclick: (e: MouseEvent) => {
      if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
      e.preventDefault();
      navigate(path);
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
function field<T extends HTMLInputElement | HTMLSelectElement>(name: string, label: string, input: T, hint?: string): { wrap: HTMLElement; error: HTMLElement; input: T } {
  const id = `f-${name}`;
  input.id = id;
  input.name = name;
  const error = h('p', { class: 'field-error', id: `${id}-error`, 'aria-live': 'polite' });
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  input.setAttribute('aria-describedby', [hintEl ? `${id}-hint` : '', `${id}-error`].filter(Boolean).join(' '));
  const wrap = h('div', { class: 'field' }, h('label', { for: id }, label), input, hintEl, error);
  return { wrap, error, input };
}

function alertBox(): HTMLElement {
  return h('div', { class: 'alert', role: 'alert', 'aria-live': 'assertive' });
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
  const fPhone = field('phone', 'Mobile phone', phoneInput, 'We text login codes to this number.');
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
          await api('POST', '/user', {
            fullName: fName.input.value,
            email: fEmail.input.value,
            password: fPassword.input.value,
            countryCode: select.value,
            phone: phoneInput.value,
          });
          navigate('/account', { notice: 'Welcome! Your account is ready. Add an authenticator to approve logins from your phone.' });
        } catch (err) {
          busy(submit, false, 'Create account');
          const e2 = err instanceof ApiFailure ? err.error : undefined;
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
          if (!focused) setAlert(alert, e2?.message ?? 'Sign-up failed. Please try again.');
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
  setAlert(alert, '');
  page('Create an account', form, h('p', {}, 'Already have an account? ', link('/login', 'Log in')));
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
          const r = await api<{ state: string; number?: string | null; details?: Record<string, string>; expires_at?: number; via?: 'sms' | 'app'; message?: string; retry_after?: number; return_to?: string }>('POST', '/session', {
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
          const e2 = err instanceof ApiFailure ? err.error : undefined;
          if (e2?.status === 429) setAlert(alert, `Too many attempts. Try again in ${formatWait(e2.retry_after ?? 60)}.`);
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

function formatWait(seconds: number): string {
  return seconds >= 120 ? `${Math.ceil(seconds / 60)} minutes` : `${seconds} seconds`;
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
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' }, 'Waiting for your approval…');
  // Not a live region: a per-second announcement would drown the status.
  const expiry = h('p', { class: 'hint center' });
  const showExpiry = () => {
    if (!expiresAt) return;
    const left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
    expiry.textContent = `The request expires in ${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}.`;
  };
  showExpiry();
  const expiryTimer = window.setInterval(showExpiry, 1000);
  const useCode = h('button', { type: 'button', class: 'secondary', onclick: () => navigate('/login/code', { via: 'app', returnTo: flow.returnTo ?? '/account' }) }, 'Use a code instead');
  const lostPhone = h('button', { type: 'button', class: 'link', onclick: () => navigate('/login/code', { via: 'app', returnTo: flow.returnTo ?? '/account', recovery: true }) }, 'Lost your phone? Use a recovery code');
  page(
    'Approve on your phone',
    h('p', {}, 'Open your Twofold Authenticator and approve this login. It will ask for this number:'),
    number ? h('p', { class: 'match-number', 'aria-label': `Matching number ${number.split('').join(' ')}`, 'data-testid': 'match-number' }, number) : h('p', {}, 'Approve the request in the app.'),
    details && Object.keys(details).length
      ? h('dl', { class: 'details' }, Object.entries(details).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))
      : null,
    status,
    expiry,
    h('div', { class: 'actions' }, useCode),
    h('p', { class: 'switch' }, lostPhone),
  );

  // Live status: one EventSource, no polling. The server sends the current state at once and the
  // new one the moment the signed callback arrives.
  const es = new EventSource('/authy/status');
  let finished = false;
  const stop = () => {
    finished = true;
    es.close();
    window.clearInterval(expiryTimer);
  };
  cleanup = stop;
  es.addEventListener('status', async (ev) => {
    const s = JSON.parse((ev as MessageEvent<string>).data) as { status: string };
    if (s.status === 'pending') return;
    stop();
    if (s.status === 'approved') {
      status.textContent = 'Approved. Logging you in…';
      try {
        await api('POST', '/session/complete', {});
        navigate(safeReturnTo(flow.returnTo), {}, true);
      } catch (err) {
        navigate('/login', { notice: err instanceof ApiFailure ? err.error.message : 'Login failed. Please log in again.' }, true);
      }
    } else if (s.status === 'denied') {
      navigate('/login/code', { via: 'app', returnTo: flow.returnTo ?? '/account', notice: 'The login request was denied on your phone. If that was a mistake, enter a code from your authenticator app or get one by text message.' }, true);
    } else {
      navigate('/login/code', { via: 'app', returnTo: flow.returnTo ?? '/account', notice: 'The approval request expired. Enter a code from your authenticator app or get one by text message.' }, true);
    }
  });
  es.addEventListener('error', () => {
    if (finished) return;
    // EventSource reconnects by itself; a closed stream means the login is gone.
    if (es.readyState === EventSource.CLOSED) {
      stop();
      navigate('/login', { notice: 'This login has ended. Please log in again.' }, true);
    } else {
      status.textContent = 'Reconnecting…';
    }
  });
}

function code(): void {
  const returnTo = flow.returnTo;
  const input = h('input', {
    type: 'text',
    inputmode: 'numeric',
    autocomplete: 'one-time-code',
    pattern: '[0-9]*',
    maxlength: '10',
    required: true,
    autofocus: true,
    class: 'code-input',
  });
  const otpHint = flow.via === 'sms' ? 'We sent a 6-digit code by text message. A code from your authenticator app works too.' : 'Enter the 6-digit code from your authenticator app, or get one by text message.';
  const f = field('code', 'Verification code', input, otpHint);
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Verify');
  const resend = h('button', { type: 'button', class: 'secondary' }, flow.via === 'sms' ? 'Resend code' : 'Text me a code');

  // Lost phone: the same field takes one of the saved recovery codes instead (letters and a dash,
  // so a plain text keyboard and no one-time-code autofill).
  let recoveryMode = false;
  const label = f.wrap.querySelector('label')!;
  const hint = f.wrap.querySelector<HTMLElement>('.hint')!;
  const switchMode = h('button', { type: 'button', class: 'link' }, 'Use a recovery code');
  const setMode = (recovery: boolean) => {
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
      label.textContent = 'Recovery code';
      hint.textContent = 'Enter one of the recovery codes you saved, like abcde-12345. Each code works once.';
      switchMode.textContent = 'Use a code from your phone instead';
    } else {
      input.setAttribute('inputmode', 'numeric');
      input.setAttribute('autocomplete', 'one-time-code');
      input.removeAttribute('autocapitalize');
      input.removeAttribute('spellcheck');
      input.setAttribute('maxlength', '10');
      input.setAttribute('pattern', '[0-9]*');
      input.classList.remove('recovery');
      label.textContent = 'Verification code';
      hint.textContent = otpHint;
      switchMode.textContent = 'Use a recovery code';
    }
    resend.hidden = recovery;
    coolDown.hidden = recovery;
    input.focus();
  };
  switchMode.addEventListener('click', () => setMode(!recoveryMode));
  const coolDown = h('p', { class: 'hint', 'aria-live': 'polite' });
  let timer: number | undefined;
  const startCoolDown = (seconds: number) => {
    let left = seconds;
    resend.disabled = true;
    const tick = () => {
      if (left <= 0) {
        window.clearInterval(timer);
        resend.disabled = false;
        coolDown.textContent = '';
        return;
      }
      coolDown.textContent = `You can ask for another code in ${left} s.`;
      left--;
    };
    window.clearInterval(timer);
    tick();
    timer = window.setInterval(tick, 1000);
  };
  cleanup = () => window.clearInterval(timer);
  const ended = (message: string) => navigate('/login', { notice: message }, true);

  resend.addEventListener('click', async () => {
    setAlert(alert, '');
    resend.disabled = true;
    try {
      const r = await api<{ retry_after: number }>('POST', '/session/resend', {});
      setAlert(alert, 'We sent a new code by text message.', 'info');
      f.error.textContent = '';
      resend.textContent = 'Resend code';
      startCoolDown(r.retry_after);
    } catch (err) {
      const e2 = err instanceof ApiFailure ? err.error : undefined;
      if (e2?.status === 401) return ended(e2.message);
      setAlert(alert, e2?.message ?? 'Could not send a code.');
      if (e2?.retry_after) startCoolDown(e2.retry_after);
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
        if (recoveryMode) {
          await recover();
          return;
        }
        const value = input.value.replace(/\s+/g, '');
        if (!/^\d{6,10}$/.test(value)) {
          f.error.textContent = 'Enter the 6-digit code.';
          input.setAttribute('aria-invalid', 'true');
          input.focus();
          return;
        }
        busy(submit, true, 'Verifying…');
        try {
          await api('POST', '/session/verify', { code: value });
          navigate(safeReturnTo(returnTo), {}, true);
        } catch (err) {
          failed(err);
        }
      },
    },
    alert,
    f.wrap,
    h('div', { class: 'actions' }, submit, resend),
    coolDown,
    h('p', { class: 'switch' }, switchMode),
  );

  function failed(err: unknown): void {
    busy(submit, false, 'Verify');
    const e2 = err instanceof ApiFailure ? err.error : undefined;
    if (e2?.status === 401 || e2?.code === 'TOO_MANY_ATTEMPTS') return ended(e2.message);
    const left = e2?.attempts_left;
    f.error.textContent = `${e2?.message ?? 'That code did not work.'}${left !== undefined ? ` ${left} ${left === 1 ? 'try' : 'tries'} left.` : ''}`;
    input.setAttribute('aria-invalid', 'true');
    input.select();
    input.focus();
  }

  async function recover(): Promise<void> {
    const value = input.value.trim();
    if (!/^[0-9a-z]{10}$/i.test(value.replace(/[\s-]/g, ''))) {
      f.error.textContent = 'Enter a recovery code: 10 letters and digits, like abcde-12345.';
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    busy(submit, true, 'Verifying…');
    try {
      const r = await api<{ recovery_codes_remaining?: number }>('POST', '/session/recover', { code: value });
      const left = r.recovery_codes_remaining ?? 0;
      // The account page is where a lost phone gets replaced, so recovery always lands there.
      navigate('/account', {
        notice: `You logged in with a recovery code. ${left === 0 ? 'That was your last one: generate new codes now.' : `You have ${left} recovery ${left === 1 ? 'code' : 'codes'} left.`} If you lost your phone, remove it below and add a new authenticator.`,
      }, true);
    } catch (err) {
      failed(err);
    }
  }
  page('Enter your code', form, h('p', {}, link('/login', 'Start over')));
  if (flow.recovery) setMode(true);
  setAlert(alert, flow.notice ?? '', flow.notice?.includes('denied') || flow.notice?.includes('expired') ? 'error' : 'info');
  if (flow.retryAfter) startCoolDown(flow.retryAfter);
}

interface Me {
  user: { fullName: string; email: string; countryCode: string; phone: string; totpAppConfirmed: boolean };
  devices: { id: string; name: string; created_at: number; last_seen_at: number | null }[];
  devices_error?: string;
  recovery_codes: { remaining: number; generated_at: number | null };
  events: { id: number; at: number; type: string; outcome: string; ip: string | null; detail: Record<string, unknown> }[];
}

const EVENT_LABELS: Record<string, string> = {
  signup: 'Sign-up',
  password: 'Password',
  second_factor_sent: 'Second factor sent',
  second_factor: 'Second factor',
  approval_requested: 'Approval requested',
  approval_answered: 'Approval answered',
  device_activated: 'Authenticator',
  device_revoked: 'Authenticator removed',
  recovery_codes_generated: 'Recovery codes generated',
  lockout: 'Lockout',
  login: 'Login',
  logout: 'Logout',
};

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

  const activationArea = h('div', { class: 'reveal', 'aria-live': 'polite' });
  const addDevice = h('button', { type: 'button', class: 'primary' }, 'Add authenticator');
  addDevice.addEventListener('click', async () => {
    busy(addDevice, true);
    try {
      const r = await api<{ activation: { link: string; qr_code: string; expires_at: number } }>('POST', '/user/authenticators', {});
      const minutes = Math.max(1, Math.round((r.activation.expires_at - Date.now()) / 60_000));
      mount(
        activationArea,
        h('p', {}, 'Scan this code with your phone, or open the link on the device you want to use. It works once and expires in ', String(minutes), ' minutes.'),
        h('img', { src: r.activation.qr_code, alt: 'QR code of the activation link', width: '220', height: '220', class: 'qr' }),
        h('p', { class: 'break' }, h('a', { href: r.activation.link, target: '_blank', rel: 'noopener', 'data-testid': 'activation-link' }, r.activation.link)),
      );
    } catch (err) {
      mount(activationArea, h('p', { class: 'field-error' }, err instanceof ApiFailure ? err.error.message : 'Could not create an activation link.'));
    }
    busy(addDevice, false);
  });

  const totpArea = h('div', { class: 'reveal', 'aria-live': 'polite' });
  const addTotp = h('button', { type: 'button', class: 'secondary' }, 'Use another authenticator app');
  addTotp.addEventListener('click', async () => {
    busy(addTotp, true);
    try {
      const r = await api<{ uri: string; qr_code: string }>('POST', '/user/totp-app', {});
      const input = h('input', { type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '10', pattern: '[0-9]*' });
      const f = field('totp-confirm', 'Code shown by the app', input);
      const confirm = h('button', { type: 'submit', class: 'primary' }, 'Confirm');
      const form = h(
        'form',
        {
          novalidate: true,
          onsubmit: async (e: SubmitEvent) => {
            e.preventDefault();
            f.error.textContent = '';
            busy(confirm, true);
            try {
              await api('POST', '/user/totp-app/confirm', { code: input.value.replace(/\s+/g, '') });
              mount(totpArea, h('p', { class: 'ok' }, '✓ Your authenticator app is set up.'));
            } catch (err) {
              f.error.textContent = err instanceof ApiFailure ? err.error.message : 'That code did not work.';
              input.focus();
            }
            busy(confirm, false);
          },
        },
        f.wrap,
        confirm,
      );
      mount(
        totpArea,
        h('p', {}, 'Scan this code with Google Authenticator, 1Password or any TOTP app, then type the code it shows.'),
        h('img', { src: r.qr_code, alt: 'QR code for your authenticator app', width: '220', height: '220', class: 'qr' }),
        h('details', {}, h('summary', {}, 'Can’t scan? Show the setup key'), h('p', { class: 'break mono' }, r.uri)),
        form,
      );
      input.focus();
    } catch (err) {
      mount(totpArea, h('p', { class: 'field-error' }, err instanceof ApiFailure ? err.error.message : 'Could not create a secret.'));
    }
    busy(addTotp, false);
  });

  const recoverySection = recoveryCodes(me.recovery_codes);

  const deviceList = h(
    'ul',
    { class: 'devices' },
    me.devices.length
      ? me.devices.map((d) => {
          const revoke = h('button', { type: 'button', class: 'danger', 'aria-label': `Remove ${d.name}` }, 'Remove');
          revoke.addEventListener('click', async () => {
            if (!window.confirm(`Remove “${d.name}”? It will no longer approve logins.`)) return;
            busy(revoke, true);
            try {
              await api('DELETE', `/user/authenticators/${encodeURIComponent(d.id)}`, {});
              navigate('/account', { notice: `“${d.name}” was removed.` }, true);
            } catch (err) {
              busy(revoke, false);
              setAlert(notice, err instanceof ApiFailure ? err.error.message : 'Could not remove it.');
            }
          });
          return h('li', {}, h('span', {}, h('strong', {}, d.name), h('br'), h('small', {}, `Added ${new Date(d.created_at).toLocaleString()}${d.last_seen_at ? ` · last used ${new Date(d.last_seen_at).toLocaleString()}` : ''}`)), revoke);
        })
      : [h('li', { class: 'empty' }, me.devices_error ?? 'No authenticator yet.')],
  );

  const events = h(
    'ol',
    { class: 'events' },
    me.events.map((e) =>
      h(
        'li',
        { 'data-outcome': e.outcome },
        h('time', { datetime: new Date(e.at).toISOString() }, new Date(e.at).toLocaleString()),
        ' ',
        h('span', {}, `${EVENT_LABELS[e.type] ?? e.type}: ${e.outcome}`),
        e.detail.kind || e.detail.reason ? h('small', {}, ` (${[e.detail.kind, e.detail.reason].filter(Boolean).join(', ')})`) : null,
      ),
    ),
  );

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
    h('section', { 'aria-labelledby': 'h-profile' }, h('h2', { id: 'h-profile' }, 'Profile'), h('dl', { class: 'details' }, h('dt', {}, 'Email'), h('dd', {}, me.user.email), h('dt', {}, 'Phone'), h('dd', {}, `+${me.user.countryCode} ${me.user.phone}`), h('dt', {}, 'Authenticator app'), h('dd', {}, me.user.totpAppConfirmed ? 'Set up' : 'Not set up'))),
    h('section', { 'aria-labelledby': 'h-devices' }, h('h2', { id: 'h-devices' }, 'Authenticators'), deviceList, h('div', { class: 'actions' }, addDevice, addTotp), activationArea, totpArea),
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
      const r = await api<{ codes: string[]; recovery_codes: Me['recovery_codes'] }>('POST', '/user/recovery-codes', {});
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
