import { h, mount } from '../shared/dom.js';
import { pendingRequests, streamEvents, type ApprovalForDevice } from './protocol.js';
import { closeNotification } from './push.js';
import { requestCard } from './request-card.js';
import type { DeviceState } from './store.js';

/**
 * The pending login requests, live from the device's event stream, newest first. `o.focusUuid`:
 * the request a notification pointed at, fetched at once and highlighted. `o.say` shows a message
 * on the page; `o.onStop` takes the stream's cleanup.
 */
export function requestsSection(d: DeviceState, o: { say(text: string, kind?: 'info' | 'error'): void; focusUuid: string | null; onStop(cleanup: () => void): void }): HTMLElement {
  let highlight = o.focusUuid;
  const requests = new Map<string, ApprovalForDevice>();
  const list = h('div', { class: 'requests', 'aria-live': 'polite' });
  const conn = h('p', { class: 'conn', role: 'status' }, 'Connecting…');

  const renderList = () => {
    if (!requests.size) {
      mount(list, h('p', { class: 'hint' }, 'No pending requests.'));
      return;
    }
    const sorted = [...requests.values()].sort((a, b) => b.seq - a.seq);
    mount(
      list,
      ...sorted.map((r) =>
        requestCard(d, r, {
          answered(decision, status) {
            requests.delete(r.uuid);
            renderList();
            o.say(decision === 'approve' ? `Approved (${status}). You can return to your browser.` : 'Denied. Nobody was logged in.');
          },
          gone() {
            requests.delete(r.uuid);
            renderList();
            o.say('That request is no longer pending.', 'error');
          },
        }),
      ),
    );
    const target = highlight ? list.querySelector<HTMLElement>(`[data-uuid="${highlight}"]`) : null;
    if (target) {
      target.classList.add('focused');
      target.scrollIntoView({ block: 'center' });
    }
  };

  // In memory only: a fresh page has an empty list and needs every pending request, while a
  // reconnect within this page resumes after the last one seen (Last-Event-ID).
  let lastId: string | undefined;
  const stopStream = streamEvents(
    d,
    (e) => {
      if (e.type === 'connected') conn.textContent = '● Connected — new requests appear here.';
      else if (e.type === 'disconnected') conn.textContent = '○ Offline — reconnecting…';
      else if (e.type === 'approval_request') {
        if (e.id) lastId = e.id;
        if (e.request.expires_at === null || e.request.expires_at > Date.now()) requests.set(e.request.uuid, e.request);
        renderList();
      } else if (e.type === 'approval_request_closed') {
        void closeNotification(e.uuid).catch(() => undefined);
        if (requests.delete(e.uuid)) renderList();
      }
    },
    () => lastId,
  );
  o.onStop(stopStream);
  renderList();

  // Opened from a notification (#request=<uuid>): fetch that request now, without waiting for the stream.
  if (o.focusUuid) {
    history.replaceState(null, '', '/authenticator/');
    void pendingRequests(d)
      .then((pending) => {
        const r = pending.find((x) => x.uuid === o.focusUuid);
        if (!r) {
          highlight = null;
          o.say('That request is no longer pending.', 'error');
          return;
        }
        requests.set(r.uuid, r);
        renderList();
        list.querySelector<HTMLElement>(`[data-uuid="${o.focusUuid}"] h3`)?.focus();
      })
      .catch(() => o.say('Could not load that request. Check your connection.', 'error'));
  }

  return h('section', { 'aria-labelledby': 'h-req' }, h('h2', { id: 'h-req' }, 'Login requests'), conn, list);
}
