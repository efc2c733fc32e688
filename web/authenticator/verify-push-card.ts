import { h } from '../shared/dom.js';
import type { VerifyPushFactor } from './store.js';
import { answerChallenge, DeviceApiError, type PushChallenge, type PushDecision } from './verify-push.js';

/**
 * One pending challenge of a Verify push factor: the app's message and fields (as text: they come
 * from the relying app), its expiry, and Approve / Deny signed by the factor's key over the details
 * shown here. After the answer the card stays and says what happened; `on.settled` is told either
 * way (answered here, or no longer pending) so the poller stops replacing it.
 */
export function pushChallengeCard(f: VerifyPushFactor, ch: PushChallenge, on: { settled(): void }): HTMLElement {
  const message = ch.details.message ?? '(no message)';
  const error = h('p', { class: 'field-error', role: 'alert' });
  const result = h('p', { class: 'result', role: 'status', 'data-testid': 'challenge-result' });
  result.hidden = true;
  const approveBtn = h('button', { type: 'button', class: 'primary' }, 'Approve');
  const denyBtn = h('button', { type: 'button', class: 'danger' }, 'Deny');
  const actions = h('div', { class: 'actions' }, approveBtn, denyBtn);
  const card = h(
    'article',
    { class: 'request', 'data-challenge': ch.sid, 'aria-label': message },
    h('h3', {}, message),
    h('p', { class: 'hint' }, `${f.friendlyName} · expires ${new Date(ch.expiration_date).toLocaleTimeString()}`),
    h('dl', { class: 'details' }, (ch.details.fields ?? []).flatMap((x) => [h('dt', {}, x.label), h('dd', {}, x.value)])),
    error,
    result,
    actions,
  );
  const finish = (text: string, outcome: string) => {
    actions.remove();
    result.textContent = text;
    result.hidden = false;
    card.dataset.status = outcome;
    card.classList.add('answered');
    on.settled();
  };
  const decide = async (status: PushDecision) => {
    error.textContent = '';
    approveBtn.disabled = denyBtn.disabled = true;
    try {
      const now = await answerChallenge(f, ch, status);
      finish(now === 'approved' ? 'Approved. You can return to the app.' : now === 'denied' ? 'Denied. The app was told you refused.' : `The request is now ${now}.`, now);
    } catch (err) {
      if (err instanceof DeviceApiError && err.status === 400 && err.code === '60200' && /no longer pending/.test(err.message)) {
        finish('This request is no longer pending (answered elsewhere or expired).', 'gone');
        return;
      }
      approveBtn.disabled = denyBtn.disabled = false;
      error.textContent = err instanceof DeviceApiError && err.status === 429 ? 'Too many refused requests from this network: try again later.' : 'Could not send your answer. Check your connection and try again.';
    }
  };
  approveBtn.addEventListener('click', () => void decide('approved'));
  denyBtn.addEventListener('click', () => void decide('denied'));
  return card;
}
