import './styles.css';
import { h, mount } from '../shared/dom.js';
import { activate, answer, DeviceApiError, pendingRequests, streamEvents, type ApprovalForDevice } from './protocol.js';
import { closeNotification, disablePush, enablePush, pushState, pushSupported, refreshPush, type PushState } from './push.js';
import { forgetDevice, loadDevice, saveDevice, type DeviceState } from './store.js';
import { totpCode } from './totp.js';

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
});

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

async function start(): Promise<void> {
  stop();
  const device = await loadDevice().catch(() => undefined);
  const fromHash = tokenFrom(location.hash);
  if (device && !fromHash) return showDevice(device, undefined, requestFromHash());
  showActivation(fromHash, device);
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
          showDevice(d, 'This browser is now your authenticator.');
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

function showDevice(d: DeviceState, welcome?: string, focusUuid: string | null = null): void {
  stop();
  let highlight = focusUuid;
  const requests = new Map<string, ApprovalForDevice>();
  const codeEl = h('p', { class: 'totp', 'data-testid': 'totp-code', 'aria-label': 'Current code' }, '······');
  const countdown = h('progress', { max: String(d.totp.period), value: '0', 'aria-label': 'Seconds until the code changes' });
  const secondsEl = h('span', { class: 'hint' });
  const list = h('div', { class: 'requests', 'aria-live': 'polite' });
  const conn = h('p', { class: 'conn', role: 'status' }, 'Connecting…');
  const flash = h('div', { class: 'alert', role: 'alert' });
  flash.hidden = !welcome;
  flash.dataset.kind = 'info';
  flash.textContent = welcome ?? '';

  const say = (text: string, kind: 'info' | 'error' = 'info') => {
    flash.textContent = text;
    flash.dataset.kind = kind;
    flash.hidden = false;
  };

  // TOTP with countdown, refreshed every second.
  let lastStep = -1;
  const tick = async () => {
    const now = Date.now();
    const step = Math.floor(now / 1000 / d.totp.period);
    const left = d.totp.period - Math.floor((now / 1000) % d.totp.period);
    countdown.value = d.totp.period - left;
    secondsEl.textContent = `${left} s`;
    if (step !== lastStep) {
      lastStep = step;
      const c = await totpCode(d.totp.secret, now, d.totp.period, d.totp.digits);
      codeEl.textContent = `${c.slice(0, 3)} ${c.slice(3)}`;
      codeEl.dataset.code = c;
    }
  };
  void tick();
  const timer = window.setInterval(() => void tick(), 1000);
  stopAll.push(() => window.clearInterval(timer));

  const renderList = () => {
    if (!requests.size) {
      mount(list, h('p', { class: 'hint' }, 'No pending requests.'));
      return;
    }
    const sorted = [...requests.values()].sort((a, b) => b.seq - a.seq);
    mount(list, ...sorted.map(requestCard));
    const target = highlight ? list.querySelector<HTMLElement>(`[data-uuid="${highlight}"]`) : null;
    if (target) {
      target.classList.add('focused');
      target.scrollIntoView({ block: 'center' });
    }
  };

  const requestCard = (r: ApprovalForDevice): HTMLElement => {
    const numberInput = h('input', { type: 'text', inputmode: 'numeric', maxlength: '2', pattern: '[0-9]*', autocomplete: 'off', class: 'number-input', id: `n-${r.uuid}`, 'aria-describedby': `nh-${r.uuid}` });
    const error = h('p', { class: 'field-error', role: 'alert' });
    const approveBtn = h('button', { type: 'button', class: 'primary', disabled: r.number_matching }, 'Approve');
    const denyBtn = h('button', { type: 'button', class: 'danger' }, 'Deny');
    const sync = () => {
      numberInput.value = numberInput.value.replace(/\D/g, '').slice(0, 2);
      approveBtn.disabled = r.number_matching && numberInput.value.length !== 2;
    };
    numberInput.addEventListener('input', sync);
    const pad = h(
      'div',
      { class: 'pad', role: 'group', 'aria-label': 'Number pad' },
      ['1', '2', '3', '4', '5', '6', '7', '8', '9', '⌫', '0'].map((k) =>
        h('button', {
          type: 'button',
          'aria-label': k === '⌫' ? 'Delete digit' : k,
          onclick: () => {
            numberInput.value = k === '⌫' ? numberInput.value.slice(0, -1) : (numberInput.value + k).slice(0, 2);
            sync();
          },
        }, k),
      ),
    );
    const decide = async (decision: 'approve' | 'deny') => {
      error.textContent = '';
      approveBtn.disabled = denyBtn.disabled = true;
      try {
        const status = await answer(d, r, decision, decision === 'approve' && r.number_matching ? numberInput.value : null);
        requests.delete(r.uuid);
        renderList();
        void closeNotification(r.uuid).catch(() => undefined);
        say(decision === 'approve' ? `Approved (${status}). You can return to your browser.` : 'Denied. Nobody was logged in.');
      } catch (err) {
        denyBtn.disabled = false;
        sync();
        if (err instanceof DeviceApiError && err.status === 403) error.textContent = 'That number does not match the one in your browser. Check it and try again.';
        else if (err instanceof DeviceApiError && (err.status === 409 || err.status === 404)) {
          requests.delete(r.uuid);
          renderList();
          say('That request is no longer pending.', 'error');
        } else error.textContent = 'Could not send your answer. Check your connection and try again.';
      }
    };
    approveBtn.addEventListener('click', () => void decide('approve'));
    denyBtn.addEventListener('click', () => void decide('deny'));
    return h(
      'article',
      { class: 'request', 'data-uuid': r.uuid, 'aria-label': r.message },
      h('h3', {}, r.message),
      h('p', { class: 'hint' }, `${r.app_name}${r.expires_at ? ` · expires ${new Date(r.expires_at).toLocaleTimeString()}` : ''}`),
      h('dl', { class: 'details' }, Object.entries(r.details).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
      r.number_matching
        ? h('div', { class: 'field' }, h('label', { for: `n-${r.uuid}` }, 'Number shown in your browser'), h('p', { class: 'hint', id: `nh-${r.uuid}` }, 'Only approve if you are logging in right now.'), numberInput, pad)
        : null,
      error,
      h('div', { class: 'actions' }, approveBtn, denyBtn),
    );
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
  stopAll.push(stopStream);
  renderList();

  // Opened from a notification (#request=<uuid>): fetch that request now, without waiting for the stream.
  if (focusUuid) {
    history.replaceState(null, '', '/authenticator/');
    void pendingRequests(d)
      .then((pending) => {
        const r = pending.find((x) => x.uuid === focusUuid);
        if (!r) {
          highlight = null;
          say('That request is no longer pending.', 'error');
          return;
        }
        requests.set(r.uuid, r);
        renderList();
        list.querySelector<HTMLElement>(`[data-uuid="${focusUuid}"] h3`)?.focus();
      })
      .catch(() => say('Could not load that request. Check your connection.', 'error'));
  }

  // Notifications when the app is closed (Web Push). Subscribing needs a click (a user gesture).
  const pushStatus = h('p', { class: 'hint', role: 'status', 'data-testid': 'push-status' });
  const pushButton = h('button', { type: 'button', class: 'secondary', 'data-testid': 'push-enable' }, 'Notify me of login requests');
  const pushOff = h('button', { type: 'button', class: 'secondary', 'data-testid': 'push-disable' }, 'Turn off notifications');
  const showPush = (state: PushState) => {
    pushButton.hidden = state !== 'off';
    pushOff.hidden = state !== 'on';
    pushButton.disabled = pushOff.disabled = false;
    pushStatus.textContent =
      state === 'on'
        ? 'You will be notified of login requests even when this app is closed.'
        : state === 'denied'
          ? 'Notifications are blocked for this site in your browser settings.'
          : state === 'unsupported'
            ? 'This browser cannot notify you when the app is closed: keep it open to see requests.'
            : 'Get a notification when a login needs your approval, even with this app closed.';
  };
  pushButton.addEventListener('click', () => {
    pushButton.disabled = true;
    enablePush(d)
      .then(showPush)
      .catch(() => {
        showPush('off');
        pushStatus.textContent = 'Notifications could not be turned on in this browser. Keep this app open to see requests.';
      });
  });
  pushOff.addEventListener('click', () => {
    pushOff.disabled = true;
    disablePush(d)
      .then(() => showPush('off'))
      .catch(() => {
        pushOff.disabled = false;
        pushStatus.textContent = 'Could not turn notifications off. Check your connection and try again.';
      });
  });
  showPush(pushSupported() ? 'off' : 'unsupported');
  if (pushSupported()) {
    // Permission granted earlier: keep the service's copy of the subscription current.
    void (Notification.permission === 'granted' ? refreshPush(d) : pushState()).then(showPush, () => showPush('off'));
  }

  const forget = h('button', {
    type: 'button',
    class: 'danger',
    onclick: async () => {
      if (!window.confirm('Remove this authenticator from this browser? You will need a new activation link to use it again.')) return;
      stop();
      await disablePush(d).catch(() => undefined);
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
      h('section', { 'aria-labelledby': 'h-code', class: 'code-card' }, h('h2', { id: 'h-code' }, 'Your code'), codeEl, h('div', { class: 'countdown' }, countdown, secondsEl)),
      h('section', { 'aria-labelledby': 'h-req' }, h('h2', { id: 'h-req' }, 'Login requests'), conn, list),
      h('section', { 'aria-labelledby': 'h-push' }, h('h2', { id: 'h-push' }, 'Notifications'), pushStatus, h('div', { class: 'actions' }, pushButton, pushOff)),
      h('div', { class: 'actions' }, forget),
    ),
  );
}

window.addEventListener('hashchange', () => void start());
void start();
