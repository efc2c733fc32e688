import { h } from '../shared/dom.js';
import type { DeviceState } from './store.js';
import { totpCode } from './totp.js';

/** The device's current TOTP code with a countdown, refreshed every second until `onStop`'s cleanup runs. */
export function codeCard(d: DeviceState, onStop: (cleanup: () => void) => void): HTMLElement {
  const codeEl = h('p', { class: 'totp', 'data-testid': 'totp-code', 'aria-label': 'Current code' }, '······');
  const countdown = h('progress', { max: String(d.totp.period), value: '0', 'aria-label': 'Seconds until the code changes' });
  const secondsEl = h('span', { class: 'hint' });
  let lastStep = -1;
  const tick = async () => {
    const now = Date.now();
    const step = Math.floor(now / 1000 / d.totp.period);
    const left = d.totp.period - Math.floor((now / 1000) % d.totp.period);
    countdown.value = d.totp.period - left;
    secondsEl.textContent = `${left} s`;
    if (step !== lastStep) {
      lastStep = step;
      const c = await totpCode(d.totp.secret, now, d.totp.period, d.totp.digits);
      codeEl.textContent = `${c.slice(0, 3)} ${c.slice(3)}`;
      codeEl.dataset.code = c;
    }
  };
  void tick();
  const timer = window.setInterval(() => void tick(), 1000);
  onStop(() => window.clearInterval(timer));
  return h('section', { 'aria-labelledby': 'h-code', class: 'code-card' }, h('h2', { id: 'h-code' }, 'Your code'), codeEl, h('div', { class: 'countdown' }, countdown, secondsEl));
}
