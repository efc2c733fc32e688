import { h, mount } from '../../shared/dom.js';
import { api } from '../api.js';
import { withStepUp } from '../step-up.js';
import { failureOf } from '../ui.js';
import { changeButton, type AccountView, type Me } from './account-model.js';

/** Activation links: how often the page looks for the new authenticator while the QR is shown. */
const ACTIVATION_POLL_MS = 3000;

/** Poll the account until a new authenticator shows up, the link expires or `stop` is called; returns `stop`. */
function watchForDevice(v: AccountView, expiresAt: number): () => void {
  const known = new Set(v.me.devices.map((d) => d.id));
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
      mount(v.activationArea, h('p', { class: 'field-error' }, 'This activation code has expired and no authenticator used it. Select “Add authenticator” to get a new one.'));
      return;
    }
    try {
      const fresh = await api<Me>('GET', '/user');
      if (stopped) return;
      const added = fresh.devices.find((d) => !known.has(d.id));
      if (added) {
        stop();
        v.me = fresh;
        v.redraw();
        mount(v.activationArea, h('p', { class: 'ok' }, `✓ “${added.name}” is set up and listed above. It will ask you to approve logins.`));
        return;
      }
    } catch (err) {
      if (failureOf(err)?.status === 401) {
        stop();
        return v.loggedOut();
      }
      // Anything else: try again at the next tick.
    }
    timer = window.setTimeout(() => void tick(), ACTIVATION_POLL_MS);
  };
  timer = window.setTimeout(() => void tick(), ACTIVATION_POLL_MS);
  return stop;
}

/** "Add authenticator": a QR code and link (after a step-up if needed), then the page watches for the new device. */
export function addAuthenticatorButton(v: AccountView): HTMLButtonElement {
  const addDevice = h('button', { type: 'button', class: 'primary' }, 'Add authenticator');
  return changeButton(v, addDevice, v.activationArea, 'Could not create an activation link. Try again.', async () => {
    v.stopPolling();
    const r = await withStepUp(() => api<{ activation: { link: string; qr_code: string; expires_at: number } }>('POST', '/user/authenticators', {}));
    if (!r.ok) return;
    const act = r.value.activation;
    const minutes = Math.max(1, Math.round((act.expires_at - Date.now()) / 60_000));
    mount(
      v.activationArea,
      h('p', {}, 'Scan this code with your phone, or open the link on the device you want to use. It works once and expires in ', String(minutes), ' minutes.'),
      h('img', { src: act.qr_code, alt: 'QR code of the activation link', width: '220', height: '220', class: 'qr' }),
      h('p', { class: 'break' }, h('a', { href: act.link, target: '_blank', rel: 'noopener', 'data-testid': 'activation-link' }, act.link)),
      h('p', { class: 'hint' }, 'This page shows the new authenticator as soon as it is activated.'),
    );
    v.stopPolling = watchForDevice(v, act.expires_at);
  });
}
