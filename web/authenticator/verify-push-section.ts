import { h, mount } from '../shared/dom.js';
import { forgetPushFactor, savePushFactor, type VerifyPushFactor } from './store.js';
import { pushChallengeCard } from './verify-push-card.js';
import { DeviceApiError, pendingChallenges, verifyPushFactor, type PushChallenge } from './verify-push.js';

/** How often a factor's pending challenges are read (Verify push factors have no notifications here). */
export const POLL_MS = 3000;
const SLOW_POLL_MS = 30_000;

interface SectionOptions {
  say(text: string, kind?: 'info' | 'error'): void;
  onStop(cleanup: () => void): void;
  /** A factor was removed from this browser: the page redraws, saying `message`. */
  removed(message: string): void;
}

/**
 * The Verify push factors this browser holds (apps' sign-in approvals through this Twofold
 * service), each with its name, service and identity, its pending challenges read every few
 * seconds, and removal from this browser. "Add a push factor" leads to the enrolment form.
 */
export function verifyPushSection(factors: VerifyPushFactor[], o: SectionOptions): HTMLElement {
  const add = h('button', { type: 'button', class: 'secondary', onclick: () => (location.hash = '#verify-push') }, 'Add a push factor');
  const body = factors.length
    ? factors.map((f) => factorCard(f, o))
    : [h('p', { class: 'hint' }, 'No push factors. An app that signs you in through this service can give you a link to add one.')];
  return h('section', { 'aria-labelledby': 'h-vp', 'data-testid': 'verify-push' }, h('h2', { id: 'h-vp' }, 'App push factors'), ...body, h('div', { class: 'actions' }, add));
}

function factorCard(f: VerifyPushFactor, o: SectionOptions): HTMLElement {
  const conn = h('p', { class: 'conn', role: 'status' }, 'Checking for requests…');
  const list = h('div', { class: 'requests', 'aria-live': 'polite' });
  const verifyBtn = h('button', { type: 'button', class: 'primary' }, 'Verify this factor');
  verifyBtn.hidden = f.status === 'verified';
  const status = h('p', { class: 'hint', 'data-testid': 'factor-status' }, f.status === 'verified' ? '' : 'Not verified yet: the app cannot send requests to it until it is.');
  verifyBtn.addEventListener('click', () => {
    verifyBtn.disabled = true;
    verifyPushFactor(f)
      .then(async (s) => {
        f.status = s;
        await savePushFactor(f);
        verifyBtn.hidden = s === 'verified';
        status.textContent = s === 'verified' ? '' : `Status: ${s}`;
      })
      .catch(() => (status.textContent = 'Verifying failed. Check your connection and try again.'))
      .finally(() => (verifyBtn.disabled = false));
  });
  const remove = h('button', {
    type: 'button',
    class: 'danger',
    onclick: async () => {
      const text = `Remove the push factor “${f.friendlyName}” from this browser? Its key is deleted here, so this browser can no longer answer its requests. It stays registered at the service until the app deletes it.`;
      if (!window.confirm(text)) return;
      await forgetPushFactor(f.factorSid);
      o.removed(`Removed “${f.friendlyName}” from this browser. It stays registered at the service until the app deletes it.`);
    },
  }, 'Remove from this browser');
  o.onStop(pollChallenges(f, list, conn));
  return h(
    'article',
    { class: 'factor', 'data-factor': f.factorSid, 'aria-label': f.friendlyName },
    h('h3', {}, f.friendlyName),
    h('dl', { class: 'details' }, h('dt', {}, 'Service'), h('dd', {}, f.serviceSid), h('dt', {}, 'Identity'), h('dd', {}, f.identity), h('dt', {}, 'Factor'), h('dd', {}, f.factorSid)),
    status,
    conn,
    list,
    h('div', { class: 'actions' }, verifyBtn, remove),
  );
}

/**
 * Read the factor's pending challenges now and every POLL_MS (one read at a time), keeping one
 * card per challenge: new ones on top, ones no longer pending dropped unless answered here (those
 * keep their result). Returns the stop function.
 */
function pollChallenges(f: VerifyPushFactor, list: HTMLElement, conn: HTMLElement): () => void {
  const cards = new Map<string, { card: HTMLElement; settled: boolean }>();
  let stopped = false;
  let timer: number | undefined;
  const empty = h('p', { class: 'hint' }, 'No pending requests.');
  const show = (pending: PushChallenge[]) => {
    const now = new Set(pending.map((c) => c.sid));
    for (const [sid, c] of cards) {
      if (!now.has(sid) && !c.settled) {
        c.card.remove();
        cards.delete(sid);
      }
    }
    for (const ch of [...pending].sort((a, b) => a.date_created.localeCompare(b.date_created))) {
      if (cards.has(ch.sid)) continue;
      const entry = { card: pushChallengeCard(f, ch, { settled: () => (entry.settled = true) }), settled: false };
      cards.set(ch.sid, entry);
      list.prepend(entry.card);
    }
    if (cards.size === 0) mount(list, empty);
    else empty.remove();
  };
  const tick = async () => {
    let wait = POLL_MS;
    try {
      if (f.status === 'verified') {
        show(await pendingChallenges(f));
        conn.textContent = '● New requests appear here.';
      } else conn.textContent = '';
    } catch (err) {
      if (err instanceof DeviceApiError && (err.status === 401 || err.status === 429)) {
        wait = SLOW_POLL_MS;
        conn.textContent = err.status === 401 ? '○ The service refused this factor: the app may have deleted it.' : '○ Too many refused requests from this network: waiting.';
      } else conn.textContent = '○ Offline — retrying…';
    }
    if (!stopped) timer = window.setTimeout(() => void tick(), wait);
  };
  void tick();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
}
