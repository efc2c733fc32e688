/** The single-page app's shell: which screen shows, what one hands to the next, the page frame. */
import { h, mount } from '../shared/dom.js';

/** What one screen hands to the next (kept in memory; the server is the source of truth). */
export interface Flow {
  number?: string | null;
  details?: Record<string, string>;
  expiresAt?: number;
  via?: 'sms' | 'app';
  notice?: string;
  retryAfter?: number;
  /** Where to go once logged in (a same-origin path). */
  returnTo?: string;
  /** The account has a passkey that may be the second step: offer "Use a passkey". */
  passkey?: boolean;
  /** Open the code screen ready for a recovery code. */
  recovery?: boolean;
  /** Signup's phone step: the number the code went to, and the tries left. */
  phone?: string;
  attemptsLeft?: number;
  /** Signup's email step: the address the link went to. */
  email?: string;
}

export const root = document.getElementById('app')!;
export let flow: Flow = {};
/** Cleanups of the current screen (event sources, timers, an open dialog), run when it is left. */
let cleanups: (() => void)[] = [];
export const onLeave = (fn: () => void) => void cleanups.push(fn);

/** Client-side navigation: no page load, history kept. */
export function navigate(path: string, next: Flow = {}, replace = false): void {
  flow = next;
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  void render();
}

type Screen = () => Promise<void> | void;
let screens: Record<string, Screen> = {};
let otherwise: Screen = () => {};

/** The screen of each path, and the one for any other path (main.ts registers them). */
export function registerScreens(byPath: Record<string, Screen>, fallback: Screen): void {
  screens = byPath;
  otherwise = fallback;
}

/** Show the screen of the current path, after running the cleanups of the one left. */
export async function render(): Promise<void> {
  const done = cleanups;
  cleanups = [];
  for (const fn of done) fn();
  const screen = screens[location.pathname] ?? otherwise;
  await screen();
  // Move focus to the screen's heading (or its first field) for keyboard and screen-reader users.
  const target = root.querySelector<HTMLElement>('main [autofocus]') ?? root.querySelector<HTMLElement>('h1');
  target?.focus();
}

window.addEventListener('popstate', () => {
  flow = {};
  void render();
});

export function link(path: string, text: string, next: Flow = {}): HTMLAnchorElement {
  return h('a', {
    href: path,
    onclick: (e: MouseEvent) => {
      if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
      e.preventDefault();
      navigate(path, next);
    },
  }, text);
}

/** A page's closing line with a link: "New here? Create an account". */
export function footerLink(text: string, path: string, label: string): HTMLElement {
  return h('p', {}, text || null, link(path, label));
}

export function page(title: string, ...content: (Node | null)[]): void {
  const header = h('header', { class: 'top' }, link('/', 'Twofold'));
  const main = h('main', { class: 'card' }, h('h1', { tabindex: '-1' }, title), ...content.filter((c): c is Node => c !== null));
  mount(root, header, main);
  document.title = `${title} · Twofold`;
}
