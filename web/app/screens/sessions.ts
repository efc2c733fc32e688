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

/**
 * The account page's "Sessions" section: where the account is logged in (browser, IP, started,
 * last used, "this browser"), with "End" for each and "End all other sessions".
 */
export function sessionsSection(v: AccountView): HTMLElement {
  const list = h('ul', { class: 'devices', 'data-testid': 'sessions' });
  const endOthers = h('button', { type: 'button', class: 'secondary' }, 'End all other sessions');

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
      const r = await api<{ ended: number }>('DELETE', '/user/sessions', {});
      v.say(r.ended === 1 ? '1 other session was ended.' : `${r.ended} other sessions were ended.`);
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
  );
}
