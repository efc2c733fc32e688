import { h } from '../shared/dom.js';
import type { ApiError } from './api.js';
import { footerLink, page } from './router.js';
import { actionForm, alertBox, setAlert } from './ui.js';

/** The token of an emailed link, from the page's fragment (#token=…), or undefined. */
export function linkToken(): string | undefined {
  const token = new URLSearchParams(location.hash.slice(1)).get('token') ?? '';
  return /^[A-Za-z0-9_-]{43}$/.test(token) ? token : undefined;
}

/**
 * The page an emailed one-click link opens (`path#token=…`): one button sends the token. The
 * token leaves the address bar and the history entry as soon as the page has read it; a link
 * cut short gets a page that says so, with `back` as the way on. A click is asked for, not done
 * on load, so a mail scanner that opens links spends nothing.
 */
export function oneClickLinkPage(o: {
  path: string;
  title: string;
  intro: string;
  button: string;
  busy: string;
  back: { text: string; path: string };
  send(token: string): Promise<void>;
  /** A refusal this page answers itself (a page of its own); false leaves it to the alert. */
  refused(e: ApiError, token: string): boolean;
}): void {
  const token = linkToken();
  if (!token) {
    page('This link does not work', h('p', {}, 'Open the link from the email again, all of it, or ask for a new one.'), footerLink('', o.back.path, o.back.text));
    return;
  }
  history.replaceState(null, '', o.path);
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'primary', autofocus: true }, o.button);
  const form = actionForm(
    {
      submit,
      busyLabel: o.busy,
      alert,
      send: () => o.send(token),
      failed: (e) => {
        if (e && o.refused(e, token)) return;
        setAlert(alert, e?.message ?? 'That did not work. Please try again.');
      },
    },
    alert,
    h('p', {}, o.intro),
    submit,
  );
  page(o.title, form);
}
