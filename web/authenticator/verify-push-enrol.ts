import { h, mount } from '../shared/dom.js';
import { registerFactorPush } from './push.js';
import { savePushFactor } from './store.js';
import { createPushFactor, DeviceApiError, enrolmentLinkFields, enrolmentOf, EnrolmentInputError, verifyPushFactor } from './verify-push.js';

/**
 * Enrol a Verify push factor: from the app's link (`/authenticator/#verify-push?service=VA…&
 * identity=…&token=…&name=…`, fields filled in) or from the fields pasted by hand. The key is made
 * here, the factor created with the token and verified by its signature. `o.done(message)` once it
 * is stored (verified, or kept to verify later); `o.cancel()` goes back.
 */
export function showPushEnrolment(root: HTMLElement, o: { defaultName: string; done(message: string, kind: 'info' | 'error'): void; cancel(): void }): void {
  let fromLink: ReturnType<typeof enrolmentLinkFields> = null;
  let linkError: string | null = null;
  try {
    fromLink = enrolmentLinkFields(location.href);
  } catch (e) {
    linkError = e instanceof Error ? e.message : 'This link cannot be used here.';
  }
  const alert = h('div', { class: 'alert', role: 'alert' });
  alert.hidden = linkError === null;
  alert.textContent = linkError ?? '';
  const input = (id: string, value: string | null | undefined, extra: Record<string, string> = {}) => h('input', { id, type: 'text', value: value ?? '', autocomplete: 'off', spellcheck: 'false', ...extra });
  const link = input('vp-link', '', { type: 'url', placeholder: 'https://…/authenticator/#verify-push?service=VA…' });
  const service = input('vp-service', fromLink?.service, { placeholder: 'VA…', maxlength: '34' });
  const identity = input('vp-identity', fromLink?.identity, { maxlength: '64' });
  const token = input('vp-token', fromLink?.token, { maxlength: '256' });
  const name = input('vp-name', fromLink?.name ?? o.defaultName, { maxlength: '64' });
  // A pasted link fills the fields.
  link.addEventListener('input', () => {
    try {
      const f = enrolmentLinkFields(link.value);
      if (!f) return;
      service.value = f.service ?? '';
      identity.value = f.identity ?? '';
      token.value = f.token ?? '';
      if (f.name) name.value = f.name;
      alert.hidden = true;
    } catch (e) {
      alert.textContent = e instanceof Error ? e.message : 'This link cannot be used here.';
      alert.hidden = false;
    }
  });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Add push factor');
  const fail = (text: string) => {
    alert.textContent = text;
    alert.hidden = false;
    submit.disabled = false;
    submit.textContent = 'Add push factor';
  };
  const enrol = async (e: SubmitEvent) => {
    e.preventDefault();
    alert.hidden = true;
    let fields;
    try {
      fields = enrolmentOf({ service: service.value, identity: identity.value, token: token.value, name: name.value }, o.defaultName);
    } catch (err) {
      return fail(err instanceof EnrolmentInputError ? err.message : 'Check the fields.');
    }
    submit.disabled = true;
    submit.textContent = 'Adding…';
    let f;
    try {
      f = await createPushFactor(fields);
      // Kept before it is verified: the key must not be lost if verifying fails.
      await savePushFactor(f);
    } catch (err) {
      return fail(refusalText(err));
    }
    history.replaceState(null, '', '/authenticator/');
    try {
      f.status = await verifyPushFactor(f);
      await savePushFactor(f);
      // Notifications of its challenges while the PWA is closed (never holds up enrolment).
      const notified = await registerFactorPush(f).catch(() => false);
      o.done(notified ? `Push factor “${f.friendlyName}” added for ${f.identity}. Requests from the app appear here and as notifications.` : `Push factor “${f.friendlyName}” added for ${f.identity}. Requests from the app appear here.`, 'info');
    } catch {
      o.done(`Push factor “${f.friendlyName}” was added but not verified yet. Use “Verify this factor” below.`, 'error');
    }
  };
  const field = (label: string, el: HTMLInputElement, hint?: string) => h('div', { class: 'field' }, h('label', { for: el.id }, label), hint ? h('p', { class: 'hint' }, hint) : null, el);
  mount(
    root,
    h('header', { class: 'top' }, h('span', {}, 'Twofold Authenticator')),
    h(
      'main',
      { class: 'card' },
      h('h1', { tabindex: '-1' }, 'Add a push factor'),
      h('p', {}, 'An app that signs you in through this Twofold service can send its sign-in requests here for you to approve or deny. A key is created in this browser and never leaves it.'),
      h('p', { class: 'hint' }, `Service: ${location.origin}`),
      h(
        'form',
        { onsubmit: (e: SubmitEvent) => void enrol(e) },
        alert,
        fromLink ? null : field('Link from the app', link, 'Paste the link the app gave you, or fill in the fields below.'),
        field('Service SID', service),
        field('Identity', identity),
        field('Access token', token, 'Single use and valid for a few minutes only.'),
        field('Name for this factor', name),
        h('div', { class: 'actions' }, submit, h('button', { type: 'button', class: 'secondary', onclick: () => o.cancel() }, 'Cancel')),
      ),
    ),
  );
  (fromLink ? submit : link).focus();
}

function refusalText(err: unknown): string {
  if (!(err instanceof DeviceApiError)) return 'Could not reach the service. Check your connection and try again.';
  if (err.status === 401) return 'The access token was refused: it was used already, has expired, or is for another service or identity. Ask the app for a new link.';
  if (err.status === 429) return 'Too many attempts from this network. Try again later.';
  if (err.status === 404) return 'The service does not know this service SID.';
  return `The service refused the factor: ${err.message}`;
}
