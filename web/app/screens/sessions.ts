import { h, mount } from '../../shared/dom.js';
import { api } from '../api.js';
import { busy, failureOf } from '../ui.js';
import { when, type AccountView } from './account-model.js';

export interface ListedSession {
  id: string;
  browser: string;
  ip: string | null;
  created_at: number;
  last_seen_at: number;
  current: boolean;
}

export interface RememberedBrowser {
  id: string;
  browser: string;
  ip: string | null;
  created_at: number;
  last_used_at: number;
  expires_at: number;
}

/**
 * The account page's "Sessions" section: where the account is logged in (browser, IP, started,
 * last used, "this browser"), with "End" for each and "End all other sessions".
 */
export function sessionsSection(v: AccountView): HTMLElement {
  const list = h('ul', { class: 'devices', 'data-testid': 'sessions' });
  const endOthers = h('button', { type: 'button', class: 'secondary' }, 'End all other sessions');
  const rememberedList = h('ul', { class: 'devices', 'data-testid': 'remembered-browsers' });
  const rememberedPart = h(
    'div',
    { hidden: true },
    h('h3', { id: 'h-remembered' }, 'Browsers that skip the second step'),
    h('p', { class: 'hint' }, 'These browsers only ask for your password, until the date shown. Any change to your password or authenticators forgets them all.'),
    rememberedList,
  );

  async function load(): Promise<void> {
    let sessions: ListedSession[];
    try {
      sessions = (await api<{ sessions: ListedSession[] }>('GET', '/user/sessions')).sessions;
    } catch (err) {
      if (failureOf(err)?.status === 401) return v.loggedOut();
      mount(list, h('li', {}, 'The sessions could not be read. Reload the page to try again.'));
      return;
    }
    endOthers.hidden = sessions.every((s) => s.current);
    mount(list, ...sessions.map(row));
    try {
      const browsers = (await api<{ browsers: RememberedBrowser[] }>('GET', '/user/remembered-browsers')).browsers;
      rememberedPart.hidden = browsers.length === 0;
      mount(rememberedList, ...browsers.map(rememberedRow));
    } catch {
      rememberedPart.hidden = true;
    }
  }

  function rememberedRow(b: RememberedBrowser): HTMLElement {
    const forget = h('button', { type: 'button', class: 'link', 'aria-label': `Forget ${b.browser}, remembered ${when(b.created_at)}` }, 'Forget');
    forget.addEventListener('click', async () => {
      busy(forget, true);
      try {
        await api('DELETE', `/user/remembered-browsers/${b.id}`, {});
        v.say(`${b.browser} will ask for the second step again.`);
      } catch (err) {
        if (failureOf(err)?.status === 401) return v.loggedOut();
        v.say(failureOf(err)?.message ?? 'The browser could not be forgotten.', 'error');
      }
      await load();
    });
    return h('li', {}, h('span', {}, h('strong', {}, b.browser), h('br'), h('small', {}, `${b.ip ?? 'unknown address'} · remembered ${when(b.created_at)} · until ${new Date(b.expires_at).toLocaleDateString()}`)), forget);
  }

  function row(s: ListedSession): HTMLElement {
    const label = `${s.browser}${s.current ? ' (this browser)' : ''}`;
    const end = h('button', { type: 'button', class: 'link', 'aria-label': `End session: ${label}, started ${when(s.created_at)}` }, s.current ? 'Log out' : 'End');
    end.addEventListener('click', async () => {
      busy(end, true);
      try {
        const r = await api<{ current: boolean }>('DELETE', `/user/sessions/${s.id}`, {});
        if (r.current) return v.loggedOut();
        v.say(`The session in ${s.browser} was ended.`);
        await load();
      } catch (err) {
        busy(end, false);
        if (failureOf(err)?.status === 401) return v.loggedOut();
        v.say(failureOf(err)?.message ?? 'The session could not be ended.', 'error');
        await load();
      }
    });
    return h(
      'li',
      { 'data-current': s.current ? 'true' : 'false' },
      h('span', {}, h('strong', {}, label), h('br'), h('small', {}, `${s.ip ?? 'unknown address'} · started ${when(s.created_at)} · last used ${when(s.last_seen_at)}`)),
      end,
    );
  }

  endOthers.addEventListener('click', async () => {
    busy(endOthers, true);
    try {
      const r = await api<{ ended: number; remembered_browsers_forgotten: number }>('DELETE', '/user/sessions', {});
      const n = r.remembered_browsers_forgotten;
      const forgot = n ? ` ${n === 1 ? '1 remembered browser' : `${n} remembered browsers`} will ask for the second step again.` : '';
      v.say(`${r.ended === 1 ? '1 other session was ended.' : `${r.ended} other sessions were ended.`}${forgot}`);
    } catch (err) {
      if (failureOf(err)?.status === 401) return v.loggedOut();
      v.say(failureOf(err)?.message ?? 'The sessions could not be ended.', 'error');
    }
    busy(endOthers, false);
    await load();
  });

  void load();
  return h(
    'section',
    { 'aria-labelledby': 'h-sessions' },
    h('h2', { id: 'h-sessions' }, 'Sessions'),
    h('p', { class: 'hint' }, 'Where your account is logged in now. End any you do not recognise, then change your password.'),
    list,
    h('div', { class: 'actions' }, endOthers),
    rememberedPart,
  );
}
