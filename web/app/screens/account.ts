import { h, mount } from '../../shared/dom.js';
import { api } from '../api.js';
import { flow, navigate, onLeave, page } from '../router.js';
import { alertBox, failureOf, setAlert } from '../ui.js';
import { describeEvent, phoneText, when, type AccountView, type Me } from './account-model.js';
import { offerPasskeyStepUp } from '../step-up.js';
import { addAuthenticatorButton } from './add-authenticator.js';
import { renderFactors } from './factor-list.js';
import { addPasskeyButton } from './passkey-setup.js';
import { recoveryCodes } from './recovery-codes.js';
import { profileChanges } from './profile-changes.js';
import { sessionsSection } from './sessions.js';
import { addTotpAppButton } from './totp-app-setup.js';

/** The account's recent activity, newest first, each line a sentence. */
function renderEvents(list: HTMLElement, me: Me): void {
  mount(
    list,
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

/** The user's page: profile, authenticators and apps, recovery codes, recent activity, logout. */
export async function account(): Promise<void> {
  let me: Me;
  try {
    me = await api<Me>('GET', '/user');
  } catch {
    navigate('/login', { notice: 'Please log in.' }, true);
    return;
  }
  const notice = alertBox(flow.notice ?? '');
  const factorList = h('ul', { class: 'devices', 'data-testid': 'factors' });
  const events = h('ol', { class: 'events' });
  const v: AccountView = {
    me,
    say: (message, kind = 'info') => setAlert(notice, message, kind),
    loggedOut: () => navigate('/login', { notice: 'You were logged out. Log in again.' }, true),
    async refresh() {
      try {
        v.me = await api<Me>('GET', '/user');
      } catch (err) {
        if (failureOf(err)?.status === 401) v.loggedOut();
        return false;
      }
      v.redraw();
      return true;
    },
    redraw() {
      offerPasskeyStepUp((v.me.passkeys ?? []).some((p) => !p.cloned));
      renderFactors(v, factorList);
      renderEvents(events, v.me);
    },
    factorsHeading: h('h2', { id: 'h-devices', tabindex: '-1' }, 'Authenticators'),
    activationArea: h('div', { class: 'reveal', 'aria-live': 'polite' }),
    totpArea: h('div', { class: 'reveal', 'aria-live': 'polite' }),
    passkeyArea: h('div', { class: 'reveal', 'aria-live': 'polite' }),
    stopPolling: () => {},
  };
  onLeave(() => v.stopPolling());
  v.redraw();
  const addDevice = addAuthenticatorButton(v);
  const addTotp = addTotpAppButton(v);
  const addPasskey = addPasskeyButton(v);
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
    h('section', { 'aria-labelledby': 'h-profile' }, h('h2', { id: 'h-profile' }, 'Profile'), h('dl', { class: 'details' }, h('dt', {}, 'Email'), h('dd', {}, me.user.email), h('dt', {}, 'Phone'), h('dd', {}, phoneText(me))), profileChanges(v)),
    h(
      'section',
      { 'aria-labelledby': 'h-devices' },
      v.factorsHeading,
      h('p', { class: 'hint' }, 'Each one can prove it is you when you log in. Remove any you no longer have.'),
      h(
        'ul',
        { class: 'hint kinds', 'aria-label': 'Kinds of authenticator' },
        h('li', {}, h('strong', {}, 'Twofold Authenticator app: '), 'approves logins with a tap once you match a number, and shows codes.'),
        h('li', {}, h('strong', {}, 'Another authenticator app '), '(Google Authenticator, 1Password…): shows codes only.'),
        h('li', {}, h('strong', {}, 'Passkey: '), 'your device or password manager signs you in to this site only, so a fake site cannot trick it.'),
      ),
      factorList,
      h('div', { class: 'actions' }, addDevice, addTotp, addPasskey.button),
      addPasskey.note,
      v.activationArea,
      v.totpArea,
      v.passkeyArea,
    ),
    recoverySection,
    sessionsSection(v),
    h('section', { 'aria-labelledby': 'h-events' }, h('h2', { id: 'h-events' }, 'Recent activity'), events),
    h('div', { class: 'actions' }, logout),
  );
}
