import { h } from '../../shared/dom.js';
import { api } from '../api.js';
import { link, page, root } from '../router.js';

export async function home(): Promise<void> {
  page(
    'Two-factor authentication',
    h('p', {}, 'Sign in with your password, then approve the login on your phone — or type a code from your authenticator app or a text message. Or sign in with a passkey saved on your device.'),
    h('nav', { class: 'actions', 'aria-label': 'Get started' }, link('/login', 'Log in'), link('/signup', 'Create an account')),
  );
  try {
    await api('GET', '/user');
    root.querySelector('nav.actions')?.replaceChildren(link('/account', 'Go to your account'));
  } catch {
    /* not logged in */
  }
}
