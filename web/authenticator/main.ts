import './styles.css';
import { h, mount } from '../shared/dom.js';
import { activate, DeviceApiError } from './protocol.js';
import { forgetDevicePush, refreshFactorPush } from './push.js';
import { forgetDevice, loadDevice, loadPushFactors, saveDevice, type DeviceState, type VerifyPushFactor } from './store.js';
import { codeCard } from './code-card.js';
import { pushSection } from './push-section.js';
import { requestsSection } from './requests-section.js';
import { showPushEnrolment } from './verify-push-enrol.js';
import { verifyPushSection } from './verify-push-section.js';

const root = document.getElementById('auth')!;
let stopAll: (() => void)[] = [];

if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/authenticator/sw.js', { scope: '/authenticator/' }).catch(() => {
    /* offline shell is a bonus */
  });
}

// A tap on a notification while this page is open: the service worker asks us to show the request.
navigator.serviceWorker?.addEventListener('message', (e: MessageEvent) => {
  const msg = e.data as { type?: unknown; uuid?: unknown } | null;
  if (msg?.type === 'open_request' && typeof msg.uuid === 'string' && UUID.test(msg.uuid)) location.hash = `#request=${msg.uuid}`;
  const f = e.data as { type?: unknown; factor_sid?: unknown } | null;
  if (f?.type === 'open_factor' && typeof f.factor_sid === 'string' && FACTOR_SID.test(f.factor_sid)) location.hash = `#factor=${f.factor_sid}`;
});

const FACTOR_SID = /^YF[0-9a-f]{32}$/;

/** `#factor=YF…` (a tapped Verify challenge notification): bring that push factor's challenges into view. */
function focusFactorFromHash(): void {
  const m = /^#factor=(YF[0-9a-f]{32})$/.exec(location.hash);
  const el = m ? document.querySelector<HTMLElement>(`[data-factor="${m[1]!}"]`) : null;
  if (!el) return;
  el.classList.add('focused');
  el.tabIndex = -1;
  el.scrollIntoView({ block: 'start' });
  el.focus();
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function requestFromHash(): string | null {
  const m = /#request=([0-9a-f-]{36})$/.exec(location.hash);
  return m && UUID.test(m[1]!) ? m[1]! : null;
}

function stop(): void {
  for (const s of stopAll) s();
  stopAll = [];
}

function tokenFrom(text: string): string | null {
  const m = /#activate=([A-Za-z0-9_\-.~%]+)/.exec(text.trim());
  if (m) return decodeURIComponent(m[1]!);
  return /^[A-Za-z0-9_-]{16,200}$/.test(text.trim()) ? text.trim() : null;
}

function defaultName(): string {
  const ua = navigator.userAgent;
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iPhone' : /Mac/.test(ua) ? 'Mac' : /Windows/.test(ua) ? 'Windows' : /Linux/.test(ua) ? 'Linux' : 'device';
  return `Browser on ${os}`;
}

async function start(welcome?: { text: string; kind: 'info' | 'error' }): Promise<void> {
  stop();
  if (location.hash.startsWith('#verify-push')) {
    showPushEnrolment(root, {
      defaultName: defaultName(),
      done: (text, kind) => void start({ text, kind }),
      cancel: () => {
        history.replaceState(null, '', '/authenticator/');
        void start();
      },
    });
    return;
  }
  const device = await loadDevice().catch(() => undefined);
  const factors = await loadPushFactors().catch(() => [] as VerifyPushFactor[]);
  // Notifications on: the factors get the browser's current subscription (it may have changed).
  void refreshFactorPush(factors).catch(() => undefined);
  const fromHash = tokenFrom(location.hash);
  if (device && !fromHash) return showDevice(device, factors, welcome, requestFromHash());
  if (factors.length && !fromHash) return showPushFactorsOnly(factors, welcome);
  showActivation(fromHash, device);
}

/** A flash message line: `say` shows text in it. */
function flashLine(welcome?: { text: string; kind: 'info' | 'error' }): { flash: HTMLElement; say(text: string, kind?: 'info' | 'error'): void } {
  const flash = h('div', { class: 'alert', role: 'alert' });
  const say = (text: string, kind: 'info' | 'error' = 'info') => {
    flash.textContent = text;
    flash.dataset.kind = kind;
    flash.hidden = false;
  };
  flash.hidden = true;
  if (welcome) say(welcome.text, welcome.kind);
  return { flash, say };
}

/** Only app push factors here (no Twofold account authenticator in this browser). */
function showPushFactorsOnly(factors: VerifyPushFactor[], welcome?: { text: string; kind: 'info' | 'error' }): void {
  const { flash, say } = flashLine(welcome);
  mount(
    root,
    h('header', { class: 'top' }, h('span', {}, 'Twofold Authenticator')),
    h(
      'main',
      { class: 'card' },
      h('h1', { tabindex: '-1' }, 'Push factors'),
      flash,
      verifyPushSection(factors, { say, onStop: (fn) => stopAll.push(fn), removed: (text) => void start({ text, kind: 'info' }) }),
      h('p', { class: 'hint' }, 'To use this browser as the authenticator of your Twofold account too, open the activation link from your account page.'),
    ),
  );
  focusFactorFromHash();
}

function showActivation(token: string | null, existing: DeviceState | undefined): void {
  const alert = h('div', { class: 'alert', role: 'alert' });
  alert.hidden = true;
  const linkInput = h('input', { id: 'link', type: 'url', placeholder: 'https://…/authenticator/#activate=…', value: token ? location.href : '', autocomplete: 'off' });
  const nameInput = h('input', { id: 'name', type: 'text', value: defaultName(), maxlength: '64', required: true });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Activate');
  const scanArea = h('div');
  const form = h(
    'form',
    {
      onsubmit: async (e: SubmitEvent) => {
        e.preventDefault();
        alert.hidden = true;
        const t = tokenFrom(linkInput.value) ?? token;
        if (!t) {
          alert.textContent = 'Paste the activation link from your account page.';
          alert.hidden = false;
          linkInput.focus();
          return;
        }
        submit.disabled = true;
        submit.textContent = 'Activating…';
        try {
          const d = await activate(t, nameInput.value.trim() || defaultName());
          await saveDevice(d);
          history.replaceState(null, '', '/authenticator/');
          showDevice(d, await loadPushFactors().catch(() => []), { text: 'This browser is now your authenticator.', kind: 'info' });
        } catch (err) {
          submit.disabled = false;
          submit.textContent = 'Activate';
          alert.textContent =
            err instanceof DeviceApiError && err.status === 410
              ? 'This activation link was already used or has expired. Create a new one on your account page.'
              : 'Activation failed. Check the link and your connection, then try again.';
          alert.hidden = false;
        }
      },
    },
    alert,
    h('div', { class: 'field' }, h('label', { for: 'link' }, 'Activation link'), linkInput),
    h('div', { class: 'field' }, h('label', { for: 'name' }, 'Name for this authenticator'), nameInput),
    h('div', { class: 'actions' }, submit, scanButton(linkInput, scanArea)),
    scanArea,
  );
  mount(
    root,
    h('header', { class: 'top' }, h('span', {}, 'Twofold Authenticator')),
    h(
      'main',
      { class: 'card' },
      h('h1', { tabindex: '-1' }, token ? 'Activate this authenticator' : 'Set up'),
      h('p', {}, token ? 'Your account page sent you here. Give this authenticator a name and activate it. A key is created in this browser and never leaves it.' : 'On your account page choose “Add authenticator”, then open or paste its link here (or scan its QR code).'),
      existing ? h('p', { class: 'hint' }, `This browser is already the authenticator “${existing.name}”. Activating replaces it here.`) : null,
      form,
      h('p', { class: 'hint' }, 'Adding a push factor for another app? ', h('a', { href: '#verify-push' }, 'Open or paste its link')),
    ),
  );
  (token ? nameInput : linkInput).focus();
}

/** Camera QR scanning where the browser has BarcodeDetector (optional). */
function scanButton(target: HTMLInputElement, area: HTMLElement): HTMLElement | null {
  const Detector = (window as unknown as { BarcodeDetector?: new (o: { formats: string[] }) => { detect(src: CanvasImageSource): Promise<{ rawValue: string }[]> } }).BarcodeDetector;
  if (!Detector || !navigator.mediaDevices?.getUserMedia) return null;
  return h('button', {
    type: 'button',
    class: 'secondary',
    onclick: async () => {
      try {
        const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
        const video = h('video', { playsInline: true, muted: true, class: 'scanner' });
        video.srcObject = stream;
        mount(area, video);
        await video.play();
        const detector = new Detector({ formats: ['qr_code'] });
        const end = () => {
          stream.getTracks().forEach((t) => t.stop());
          area.replaceChildren();
        };
        stopAll.push(end);
        const loop = async () => {
          if (!stream.active) return;
          const codes = await detector.detect(video).catch(() => []);
          const hit = codes.find((c) => tokenFrom(c.rawValue));
          if (hit) {
            target.value = hit.rawValue;
            end();
            target.form?.requestSubmit();
            return;
          }
          setTimeout(() => void loop(), 300);
        };
        void loop();
      } catch {
        mount(area, h('p', { class: 'hint' }, 'The camera is not available; paste the link instead.'));
      }
    },
  }, 'Scan QR code');
}

function showDevice(d: DeviceState, factors: VerifyPushFactor[], welcome?: { text: string; kind: 'info' | 'error' }, focusUuid: string | null = null): void {
  stop();
  const { flash, say } = flashLine(welcome);

  const forget = h('button', {
    type: 'button',
    class: 'danger',
    onclick: async () => {
      if (!window.confirm('Remove this authenticator from this browser? You will need a new activation link to use it again.')) return;
      stop();
      await forgetDevicePush(d, factors.length > 0).catch(() => undefined);
      await forgetDevice();
      void start();
    },
  }, 'Remove from this browser');

  mount(
    root,
    h('header', { class: 'top' }, h('span', {}, 'Twofold Authenticator')),
    h(
      'main',
      { class: 'card' },
      h('h1', { tabindex: '-1' }, d.name),
      flash,
      h('p', { class: 'hint' }, `${d.totp.issuer} · ${d.userHint}`),
      codeCard(d, (fn) => stopAll.push(fn)),
      requestsSection(d, { say, focusUuid, onStop: (fn) => stopAll.push(fn) }),
      pushSection(d, factors),
      verifyPushSection(factors, { say, onStop: (fn) => stopAll.push(fn), removed: (text) => void start({ text, kind: 'info' }) }),
      h('div', { class: 'actions' }, forget),
    ),
  );
  focusFactorFromHash();
}

window.addEventListener('hashchange', () => void start());
void start();
