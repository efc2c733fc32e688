import { h } from '../shared/dom.js';
import { disablePush, enablePush, pushState, pushSupported, refreshPush, type PushState } from './push.js';
import type { DeviceState, VerifyPushFactor } from './store.js';

/** Notifications when the app is closed (Web Push): on and off buttons and the state. Subscribing needs a click (a user gesture). */
export function pushSection(d: DeviceState, factors: VerifyPushFactor[] = []): HTMLElement {
  const pushStatus = h('p', { class: 'hint', role: 'status', 'data-testid': 'push-status' });
  const pushButton = h('button', { type: 'button', class: 'secondary', 'data-testid': 'push-enable' }, 'Notify me of login requests');
  const pushOff = h('button', { type: 'button', class: 'secondary', 'data-testid': 'push-disable' }, 'Turn off notifications');
  const showPush = (state: PushState) => {
    pushButton.hidden = state !== 'off';
    pushOff.hidden = state !== 'on';
    pushButton.disabled = pushOff.disabled = false;
    pushStatus.textContent =
      state === 'on'
        ? 'You will be notified of login requests even when this app is closed.'
        : state === 'denied'
          ? 'Notifications are blocked for this site in your browser settings.'
          : state === 'unsupported'
            ? 'This browser cannot notify you when the app is closed: keep it open to see requests.'
            : 'Get a notification when a login needs your approval, even with this app closed.';
  };
  pushButton.addEventListener('click', () => {
    pushButton.disabled = true;
    enablePush(d, factors)
      .then(showPush)
      .catch(() => {
        showPush('off');
        pushStatus.textContent = 'Notifications could not be turned on in this browser. Keep this app open to see requests.';
      });
  });
  pushOff.addEventListener('click', () => {
    pushOff.disabled = true;
    disablePush(d, factors)
      .then(() => showPush('off'))
      .catch(() => {
        pushOff.disabled = false;
        pushStatus.textContent = 'Could not turn notifications off. Check your connection and try again.';
      });
  });
  showPush(pushSupported() ? 'off' : 'unsupported');
  if (pushSupported()) {
    // Permission granted earlier: keep the service's copy of the subscription current.
    void (Notification.permission === 'granted' ? refreshPush(d) : pushState()).then(showPush, () => showPush('off'));
  }
  return h('section', { 'aria-labelledby': 'h-push' }, h('h2', { id: 'h-push' }, 'Notifications'), pushStatus, h('div', { class: 'actions' }, pushButton, pushOff));
}
