import type { PublicKeyCredentialCreationOptionsJSON } from '@simplewebauthn/browser';
import { h, mount } from '../../shared/dom.js';
import { api } from '../api.js';
import { CeremonyFailed, makePasskey, passkeysWorkHere } from '../passkeys.js';
import { withStepUp } from '../step-up.js';
import { actionForm, field, fieldError } from '../ui.js';
import { changeButton, type AccountView, type Passkey } from './account-model.js';

const MAX_NAME = 64;

/**
 * "Add a passkey" (after a step-up if needed): the server's options, the browser's prompt, then
 * the new passkey is sent and listed. Where passkeys cannot work, a note with the reason instead.
 */
export function addPasskeyButton(v: AccountView): { button: HTMLButtonElement | null; note: HTMLElement | null } {
  const note = (text: string) => ({ button: null, note: h('p', { class: 'hint', 'data-testid': 'passkeys-unavailable' }, text) });
  if (v.me.passkeys_available === false) return note(v.me.passkeys_unavailable_reason ?? 'Passkeys cannot be added at this site’s address.');
  if (!passkeysWorkHere()) return note('This browser cannot make passkeys. Open this page in a recent browser to add one.');
  const add = h('button', { type: 'button', class: 'secondary' }, 'Add a passkey');
  const button = changeButton(v, add, v.passkeyArea, 'Could not add the passkey. Try again.', async () => {
    mount(v.passkeyArea, h('p', { role: 'status' }, 'Follow your browser’s prompt to save a passkey on this device or in your password manager.'));
    let r: Awaited<ReturnType<typeof withStepUp<{ passkey: Passkey }>>>;
    try {
      r = await withStepUp(async () => {
        const { options } = await api<{ options: PublicKeyCredentialCreationOptionsJSON }>('POST', '/user/passkeys/options', {});
        return api<{ passkey: Passkey }>('POST', '/user/passkeys', { response: await makePasskey(options) });
      });
    } catch (err) {
      if (!(err instanceof CeremonyFailed)) throw err;
      mount(v.passkeyArea, ...(err.kind === 'aborted' ? [] : [h('p', { class: err.kind === 'cancelled' ? 'hint' : 'field-error', role: 'status' }, err.message)]));
      return;
    }
    if (!r.ok) return v.passkeyArea.replaceChildren();
    await v.refresh();
    mount(
      v.passkeyArea,
      h('p', { class: 'ok' }, `✓ Your passkey “${r.value.passkey.name}” is added and listed above. Next time, select “Sign in with a passkey” on the login page.`),
      h('p', { class: 'hint' }, 'Select “Rename” to give it a name you will recognise, like the device or password manager that holds it.'),
    );
  });
  return { button, note: null };
}

/** "Rename": the passkey's line becomes a small form with its name (1–64 characters). */
export function renamePasskeyButton(v: AccountView, p: Passkey): HTMLButtonElement {
  const button = h('button', { type: 'button', class: 'secondary', 'aria-label': `Rename ${p.name}` }, 'Rename');
  button.addEventListener('click', () => {
    const item = button.closest('li');
    if (!item) return;
    const input = h('input', { type: 'text', maxlength: String(MAX_NAME), required: true, autocomplete: 'off', value: p.name });
    const f = field(`passkey-name-${p.id}`, 'Passkey name', input, `Up to ${MAX_NAME} characters, like “Work laptop” or “1Password”.`);
    const save = h('button', { type: 'submit', class: 'primary' }, 'Save name');
    const cancel = h('button', { type: 'button', class: 'secondary', onclick: () => v.redraw() }, 'Cancel');
    const form = actionForm(
      {
        submit: save,
        busyLabel: 'Saving…',
        fields: [f],
        invalid: f,
        check: () => (input.value.trim() === '' ? 'Enter a name.' : input.value.trim().length > MAX_NAME ? `Use at most ${MAX_NAME} characters.` : undefined),
        send: async () => {
          const r = await api<{ passkey: Passkey }>('PATCH', `/user/passkeys/${encodeURIComponent(p.id)}`, { name: input.value.trim() });
          await v.refresh();
          v.passkeyArea.replaceChildren();
          v.say(`The passkey is now called “${r.passkey.name}”.`);
          v.factorsHeading.focus();
        },
        failed: (e2) => (e2?.status === 401 ? v.loggedOut() : fieldError(f, e2?.message ?? 'Could not rename it. Try again.')),
      },
      f.wrap,
      h('div', { class: 'actions' }, save, cancel),
    );
    form.classList.add('rename');
    mount(item, form);
    input.select();
    input.focus();
  });
  return button;
}
