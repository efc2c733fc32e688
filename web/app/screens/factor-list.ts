import { h, mount } from '../../shared/dom.js';
import { api } from '../api.js';
import { withStepUp } from '../step-up.js';
import { busy, failureOf } from '../ui.js';
import { appName, phoneText, when, type AccountView } from './account-model.js';
import { renamePasskeyButton } from './passkey-setup.js';

/** Remove one authenticator or app (after a confirm, and a step-up if needed). */
async function remove(v: AccountView, button: HTMLButtonElement, question: string, path: string, removed: string): Promise<void> {
  if (!window.confirm(question)) return;
  busy(button, true);
  try {
    const r = await withStepUp(() => api('DELETE', path, {}));
    if (!r.ok) {
      busy(button, false);
      v.say('Nothing was removed.');
      return;
    }
    await v.refresh();
    // What was said about setting something up may no longer be true.
    v.stopPolling();
    v.activationArea.replaceChildren();
    v.totpArea.replaceChildren();
    v.say(removed);
    v.factorsHeading.focus();
  } catch (err) {
    busy(button, false);
    const e2 = failureOf(err);
    if (e2?.status === 401) return v.loggedOut();
    v.say(e2?.message ?? 'Could not remove it. Try again.', 'error');
  }
}

/** One line of the list: its name, what it is, its Remove; a warning line and more buttons (Rename) if given. */
function factorItem(name: string, kind: string, about: string, onRemove: (b: HTMLButtonElement) => void, more: { warning?: string; buttons?: HTMLButtonElement[]; kind?: string } = {}): HTMLElement {
  const button = h('button', { type: 'button', class: 'danger', 'aria-label': `Remove ${name}` }, 'Remove');
  button.addEventListener('click', () => onRemove(button));
  const warning = more.warning ? h('p', { class: 'field-error' }, more.warning) : null;
  const text = h('span', {}, h('strong', {}, name), h('br'), h('small', {}, `${kind} · ${about}`), warning);
  const attrs = { 'data-testid': 'factor', ...(more.kind ? { 'data-kind': more.kind } : {}) };
  // Several buttons go under the text on a narrow screen.
  if (more.buttons?.length) return h('li', { ...attrs, class: 'wide' }, text, h('div', { class: 'item-actions' }, ...more.buttons, button));
  return h('li', attrs, text, button);
}

/** The account's passkeys, each with Rename and Remove. */
function passkeyItems(v: AccountView): HTMLElement[] {
  return (v.me.passkeys ?? []).map((p) => {
    const about = [`added ${when(p.created_at)}`, p.last_used_at ? `last used ${when(p.last_used_at)}` : 'not used yet', p.backed_up ? 'backed up' : 'this device only'].join(' · ');
    return factorItem(
      p.name,
      'Passkey',
      about,
      (b) => void remove(v, b, `Remove the passkey “${p.name}”? It will no longer sign you in to this account.`, `/user/passkeys/${encodeURIComponent(p.id)}`, `The passkey “${p.name}” was removed. It can no longer sign you in. You may also delete it from your device or password manager.`),
      {
        kind: 'passkey',
        buttons: [renamePasskeyButton(v, p)],
        ...(p.cloned ? { warning: 'Refused: this passkey’s counter went backwards, so it may have been copied. Remove it.' } : {}),
      },
    );
  });
}

/** The account's authenticators and apps, each with its Remove (after a confirm, and a step-up if needed). */
export function renderFactors(v: AccountView, list: HTMLElement): void {
  const items: HTMLElement[] = [];
  for (const d of v.me.devices) {
    items.push(
      factorItem(d.name, 'Twofold Authenticator', `added ${when(d.created_at)}${d.last_seen_at ? ` · last used ${when(d.last_seen_at)}` : ''}`, (b) =>
        void remove(v, b, `Remove “${d.name}”? It will no longer approve logins or show codes for this account.`, `/user/authenticators/${encodeURIComponent(d.id)}`, `“${d.name}” was removed. It can no longer approve logins or show codes for this account.`),
      ),
    );
  }
  for (const a of v.me.totp_apps ?? []) {
    const name = appName(a);
    const about = a.legacy
      ? 'its codes may still show on authenticators you added before; removing it ends those codes'
      : `added ${when(a.confirmed_at ?? a.created_at)}${a.last_used_at ? ` · last used ${when(a.last_used_at)}` : ''}`;
    items.push(
      factorItem(name, a.legacy ? 'One code key shared by older authenticators' : 'Codes from another app', about, (b) =>
        void remove(
          v,
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
  items.push(...passkeyItems(v));
  if (v.me.devices_error) items.push(h('li', { class: 'empty', role: 'status' }, `${v.me.devices_error} The list may be incomplete; reload the page to try again.`));
  else if (items.length === 0) items.push(h('li', { class: 'empty' }, `No authenticator yet. Logins use a code texted to ${phoneText(v.me)}.`));
  mount(list, ...items);
}

