import { h } from '../shared/dom.js';
import { answer, DeviceApiError, type ApprovalForDevice } from './protocol.js';
import { closeNotification } from './push.js';
import type { DeviceState } from './store.js';

/**
 * One pending request: its message and details, the number pad when number matching is on, and
 * Approve / Deny. `on.answered` once the service took the answer; `on.gone` when the request was
 * no longer pending.
 */
export function requestCard(d: DeviceState, r: ApprovalForDevice, on: { answered(decision: 'approve' | 'deny', status: string): void; gone(): void }): HTMLElement {
  const numberInput = h('input', { type: 'text', inputmode: 'numeric', maxlength: '2', pattern: '[0-9]*', autocomplete: 'off', class: 'number-input', id: `n-${r.uuid}`, 'aria-describedby': `nh-${r.uuid}` });
  const error = h('p', { class: 'field-error', role: 'alert' });
  const approveBtn = h('button', { type: 'button', class: 'primary', disabled: r.number_matching }, 'Approve');
  const denyBtn = h('button', { type: 'button', class: 'danger' }, 'Deny');
  const sync = () => {
    numberInput.value = numberInput.value.replace(/\D/g, '').slice(0, 2);
    approveBtn.disabled = r.number_matching && numberInput.value.length !== 2;
  };
  numberInput.addEventListener('input', sync);
  const pad = h(
    'div',
    { class: 'pad', role: 'group', 'aria-label': 'Number pad' },
    ['1', '2', '3', '4', '5', '6', '7', '8', '9', '⌫', '0'].map((k) =>
      h('button', {
        type: 'button',
        'aria-label': k === '⌫' ? 'Delete digit' : k,
        onclick: () => {
          numberInput.value = k === '⌫' ? numberInput.value.slice(0, -1) : (numberInput.value + k).slice(0, 2);
          sync();
        },
      }, k),
    ),
  );
  const decide = async (decision: 'approve' | 'deny') => {
    error.textContent = '';
    approveBtn.disabled = denyBtn.disabled = true;
    try {
      const status = await answer(d, r, decision, decision === 'approve' && r.number_matching ? numberInput.value : null);
      void closeNotification(r.uuid).catch(() => undefined);
      on.answered(decision, status);
    } catch (err) {
      denyBtn.disabled = false;
      sync();
      if (err instanceof DeviceApiError && err.status === 403) error.textContent = 'That number does not match the one in your browser. Check it and try again.';
      else if (err instanceof DeviceApiError && (err.status === 409 || err.status === 404)) {
        on.gone();
      } else error.textContent = 'Could not send your answer. Check your connection and try again.';
    }
  };
  approveBtn.addEventListener('click', () => void decide('approve'));
  denyBtn.addEventListener('click', () => void decide('deny'));
  return h(
    'article',
    { class: 'request', 'data-uuid': r.uuid, 'aria-label': r.message },
    h('h3', {}, r.message),
    h('p', { class: 'hint' }, `${r.app_name}${r.expires_at ? ` · expires ${new Date(r.expires_at).toLocaleTimeString()}` : ''}`),
    h('dl', { class: 'details' }, Object.entries(r.details).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    r.number_matching
      ? h('div', { class: 'field' }, h('label', { for: `n-${r.uuid}` }, 'Number shown in your browser'), h('p', { class: 'hint', id: `nh-${r.uuid}` }, 'Only approve if you are logging in right now.'), numberInput, pad)
      : null,
    error,
    h('div', { class: 'actions' }, approveBtn, denyBtn),
  );
}
