import { h, mount } from '../../shared/dom.js';
import { api } from '../api.js';
import { withStepUp } from '../step-up.js';
import { actionForm, field, fieldError, formatWait, otpInput, otpValue } from '../ui.js';
import { changeButton, type AccountView } from './account-model.js';

/** "Use another authenticator app": a key of its own (after a step-up if needed), then a first code confirms it. */
export function addTotpAppButton(v: AccountView): HTMLButtonElement {
  const addTotp = h('button', { type: 'button', class: 'secondary' }, 'Use another authenticator app');
  return changeButton(v, addTotp, v.totpArea, 'Could not create a key for the app. Try again.', async () => {
    const r = await withStepUp(() => api<{ id: string; uri: string; qr_code: string }>('POST', '/user/totp-app', {}));
    if (r.ok) showTotpSetup(v, r.value);
  });
}

/** The new app's QR code and setup key, and the form for its first code. */
function showTotpSetup(v: AccountView, s: { uri: string; qr_code: string }): void {
  let secret = '';
  try {
    secret = new URL(s.uri).searchParams.get('secret') ?? '';
  } catch {
    /* shown as the link only */
  }
  const input = otpInput();
  const f = field('totp-confirm', 'Code shown by the app', input, 'The 6-digit code the new app shows for Twofold.');
  const confirm = h('button', { type: 'submit', class: 'primary' }, 'Confirm');
  const form = actionForm(
    {
      submit: confirm,
      fields: [f],
      check: () => (otpValue(input) ? undefined : 'Enter the 6-digit code the app shows.'),
      invalid: f,
      send: async () => {
        await api('POST', '/user/totp-app/confirm', { code: otpValue(input) });
        await v.refresh();
        mount(v.totpArea, h('p', { class: 'ok' }, '✓ Your authenticator app is set up and listed above. Its codes work when you log in.'));
      },
      failed: (e2) => {
        if (e2?.status === 401) return v.loggedOut();
        fieldError(f, e2?.status === 429 ? `Too many wrong codes. Try again in ${formatWait(e2.retry_after ?? 60)}.` : (e2?.message ?? 'That code did not work. Try again.'));
      },
    },
    f.wrap,
    confirm,
  );
  mount(
    v.totpArea,
    h('p', {}, 'Scan this QR code with Google Authenticator, 1Password or any other authenticator app, then type the code it shows.'),
    h('img', { src: s.qr_code, alt: 'QR code for your authenticator app', width: '220', height: '220', class: 'qr' }),
    h('p', { hidden: !secret }, 'Can’t scan? Type this setup key into the app: ', h('code', { class: 'mono break', 'data-testid': 'totp-secret' }, secret.replace(/(.{4})(?=.)/g, '$1 '))),
    h('details', {}, h('summary', {}, 'Show the setup link'), h('p', { class: 'break mono', 'data-testid': 'totp-uri' }, s.uri)),
    form,
  );
  input.focus();
}
