import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { h, mount } from '../../shared/dom.js';
import { api } from '../api.js';
import { withStepUp } from '../factors.js';
import { flow, link, navigate, onLeave, page } from '../router.js';
import { alertBox, busy, failureOf, field, fieldError, formatWait, otpInput, otpValue, setAlert } from '../ui.js';
import { describeEvent, type Me, type TotpApp } from './account-model.js';
import { recoveryCodes } from './recovery-codes.js';

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

export async function account(): Promise<void> {
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
