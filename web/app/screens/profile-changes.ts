import { AppError } from '../../../src/app/error-codes.js';
import { h, mount } from '../../shared/dom.js';
import { api, ApiFailure } from '../api.js';
import { withStepUp } from '../step-up.js';
import { oneClickLinkPage } from '../link-page.js';
import { footerLink, page } from '../router.js';
import { countryList, guessCountry } from '../countries.js';
import { actionForm, alertBox, field, fieldError, formatWait, otpInput, otpValue, setAlert, wrongCodeText } from '../ui.js';
import type { AccountView } from './account-model.js';

/** A change that needs "Confirm it's you" first when the session's proof is old; a cancel is a failure without a server error. */
async function confirmed<T>(action: () => Promise<T>): Promise<T> {
  const r = await withStepUp(action);
  if (!r.ok) throw new ApiFailure({ status: 0, code: 'CANCELLED', message: 'Nothing was changed: the confirmation was cancelled.' });
  return r.value;
}

/** The profile's "Change password" and "Change email" buttons, each opening its form below them. */
export function profileChanges(v: AccountView): HTMLElement {
  const area = h('div', { class: 'reveal', 'aria-live': 'polite' });
  const password = h('button', { type: 'button', class: 'secondary' }, 'Change password');
  const email = h('button', { type: 'button', class: 'secondary' }, 'Change email');
  const phone = h('button', { type: 'button', class: 'secondary' }, 'Change phone');
  password.addEventListener('click', () => mount(area, passwordForm(v, area)));
  email.addEventListener('click', () => mount(area, emailForm(v, area)));
  phone.addEventListener('click', () => mount(area, phoneForm(v, area)));
  return h('div', {}, h('div', { class: 'actions' }, password, email, phone), area);
}

function passwordForm(v: AccountView, area: HTMLElement): HTMLElement {
  const current = field('current-password', 'Current password', h('input', { type: 'password', autocomplete: 'current-password', required: true, autofocus: true }));
  const next = field('new-password', 'New password', h('input', { type: 'password', autocomplete: 'new-password', required: true, minlength: '8', maxlength: '256' }), 'At least 8 characters; common passwords are refused.');
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Change password');
  const form = actionForm(
    {
      submit,
      busyLabel: 'Changing…',
      alert,
      fields: [current, next],
      check: () => (!current.input.value ? 'Enter your current password.' : [...next.input.value].length < 8 ? 'The new password needs at least 8 characters.' : undefined),
      send: async () => {
        const r = await confirmed(() => api<{ sessions_ended: number }>('POST', '/user/password', { current_password: current.input.value, password: next.input.value }));
        mount(area, h('p', { class: 'ok', role: 'status' }, `✓ Your password was changed.${r.sessions_ended ? ` ${r.sessions_ended === 1 ? '1 other session was' : `${r.sessions_ended} other sessions were`} ended.` : ''} We emailed you a notice.`));
        await v.refresh();
      },
      failed: (e) => {
        if (e?.status === 401) return v.loggedOut();
        if (e?.fields?.['current_password']) return fieldError(current, 'That is not your current password.');
        if (e?.fields?.['password']) return fieldError(next, e.fields['password']);
        if (e?.status === 429) return setAlert(alert, `Too many tries. Try again in ${formatWait(e.retry_after ?? 60)}.`);
        setAlert(alert, e?.message ?? 'The password was not changed. Try again.');
      },
    },
    alert,
    current.wrap,
    next.wrap,
    submit,
  );
  return form;
}

function emailForm(v: AccountView, area: HTMLElement): HTMLElement {
  const address = field('new-email', 'New email address', h('input', { type: 'email', autocomplete: 'email', required: true, autofocus: true }));
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Send a link to it');
  const form = actionForm(
    {
      submit,
      busyLabel: 'Sending…',
      alert,
      fields: [address],
      check: () => (/^\S+@\S+\.\S+$/.test(address.input.value.trim()) ? undefined : 'Enter the new email address.'),
      invalid: address,
      send: async () => {
        const r = await confirmed(() => api<{ email: string; expires_in_hours: number }>('POST', '/user/email', { email: address.input.value.trim() }));
        mount(area, h('p', { class: 'ok', role: 'status' }, `We sent a link to ${r.email}. Open it within ${r.expires_in_hours} hours to make it your address; until then nothing changes.`));
      },
      failed: (e) => {
        if (e?.status === 401) return v.loggedOut();
        if (e?.fields?.['email']) return fieldError(address, e.fields['email'] === 'is already your address' ? 'That is already your address.' : 'Enter a valid email address.');
        if (e?.status === 429) return setAlert(alert, `Too many changes asked for. Try again in ${formatWait(e.retry_after ?? 60)}.`);
        setAlert(alert, e?.message ?? 'The link could not be sent. Try again.');
      },
    },
    alert,
    address.wrap,
    submit,
  );
  return form;
}

function phoneForm(v: AccountView, area: HTMLElement): HTMLElement {
  const select = h('select', { autocomplete: 'country' }, countryList().map((c) => h('option', { value: c.code, selected: c.code === guessCountry() }, `${c.name} (+${c.dial})`)));
  const country = field('new-country', 'Country', select);
  const number = field('new-phone', 'New mobile phone', h('input', { type: 'tel', autocomplete: 'tel-national', required: true, maxlength: '32', inputmode: 'tel', autofocus: true }), 'We text a code to it to check it is yours.');
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Text me a code');
  return actionForm(
    {
      submit,
      busyLabel: 'Sending…',
      alert,
      fields: [number],
      check: () => (number.input.value.trim() ? undefined : 'Enter the new number.'),
      invalid: number,
      send: async () => {
        const r = await confirmed(() => api<{ phone: string }>('POST', '/user/phone', { countryCode: select.value, phone: number.input.value.trim() }));
        mount(area, phoneCodeForm(v, area, r.phone));
      },
      failed: (e) => {
        if (e?.status === 401) return v.loggedOut();
        if (e?.fields?.['phone']) return fieldError(number, e.fields['phone'] === 'is already your number' ? 'That is already your number.' : `This number cannot be used: ${e.fields['phone']}.`);
        if (e?.status === 429) return setAlert(alert, `Too many codes were sent. Try again in ${formatWait(e.retry_after ?? 60)}.`);
        setAlert(alert, e?.message ?? 'No code could be sent. Try again.');
      },
    },
    alert,
    country.wrap,
    number.wrap,
    submit,
  );
}

function phoneCodeForm(v: AccountView, area: HTMLElement, phone: string): HTMLElement {
  const input = otpInput(true);
  const f = field('new-phone-code', 'Code from the text message', input, `We texted a 6-digit code to ${phone}.`);
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Change phone');
  return actionForm(
    {
      submit,
      busyLabel: 'Checking…',
      alert,
      fields: [f],
      check: () => (otpValue(input) ? undefined : 'Enter the 6-digit code from the text message.'),
      invalid: f,
      send: async () => {
        const r = await api<{ phone: string }>('POST', '/user/phone/verify', { code: otpValue(input) });
        await v.refresh();
        mount(area, h('p', { class: 'ok', role: 'status' }, `✓ Your phone number is now ${r.phone}. Text-message codes go there from now on. We emailed you a notice.`));
      },
      failed: (e) => {
        if (e?.status === 401) return v.loggedOut();
        if (e?.code === AppError.TOO_MANY_ATTEMPTS || e?.code === AppError.PHONE_CHANGE_EXPIRED) return mount(area, h('p', { class: 'warn', role: 'alert' }, e.message));
        fieldError(f, wrongCodeText(e));
      },
    },
    alert,
    f.wrap,
    submit,
  );
}

/** The page a change-of-email link opens (#token=…): one click makes it the account's address. */
export function confirmEmailChange(): void {
  oneClickLinkPage({
    path: '/account/email',
    title: 'Confirm your new email address',
    intro: 'Make this address the one your account uses for logging in and for its mail.',
    button: 'Use this email address',
    busy: 'Changing…',
    back: { text: 'Go to your account', path: '/account' },
    send: async (token) => {
      const r = await api<{ email: string }>('POST', '/user/email/confirm', { token });
      page('Your email address was changed', h('p', { role: 'status' }, `Your account now uses ${r.email}. Log in with it from now on.`), footerLink('', '/account', 'Go to your account'));
    },
    refused: (e) => {
      if (e.code !== AppError.EMAIL_LINK_INVALID && e.code !== AppError.EMAIL_TAKEN) return false;
      page('This link cannot be used', h('p', {}, e.message), footerLink('', '/account', 'Go to your account'));
      return true;
    },
  });
}
