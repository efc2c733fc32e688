import { h, mount } from '../../shared/dom.js';
import { api, ApiFailure } from '../api.js';
import { withStepUp } from '../step-up.js';
import { busy } from '../ui.js';
import type { Me } from './account-model.js';

/** How many codes are left, with a warning when few are. */
function recoveryStatus(rc: Me['recovery_codes']): { text: string; warn: boolean } {
  if (rc.generated_at === null) return { text: 'You have no recovery codes yet. They let you log in if you lose your phone.', warn: true };
  const when = new Date(rc.generated_at).toLocaleDateString();
  if (rc.remaining === 0) return { text: `All your recovery codes (generated ${when}) are used. Generate new ones.`, warn: true };
  const few = rc.remaining <= 3;
  return { text: `${rc.remaining} of 10 recovery codes left (generated ${when}).${few ? ' You are running low: generate new ones.' : ''}`, warn: few };
}

/** The user page's "Recovery codes" section: status, (re)generate, and the new set shown once. */
export function recoveryCodes(initial: Me['recovery_codes']): HTMLElement {
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
