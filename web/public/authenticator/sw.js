// Service worker of the Twofold Authenticator: keeps the app shell available offline and shows
// Web Push notifications of login requests while the app is closed.
// The device API (/v1/...) is never cached or intercepted: every request there is signed and live.
const CACHE = 'twofold-authenticator-v1';
const SHELL = ['/authenticator/', '/authenticator/manifest.webmanifest', '/authenticator/icon-192.png', '/authenticator/icon.svg'];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (req.mode === 'navigate' && url.pathname.startsWith('/authenticator')) {
    // Network first (fresh shell), the cached shell when offline.
    event.respondWith(
      fetch(req)
        .then((res) => {
          const copy = res.clone();
          if (res.ok) void caches.open(CACHE).then((c) => c.put('/authenticator/', copy));
          return res;
        })
        .catch(() => caches.match('/authenticator/').then((r) => r || Response.error())),
    );
    return;
  }
  if (url.pathname.startsWith('/assets/') || SHELL.includes(url.pathname)) {
    // Hashed assets never change: cache first, filled as they are fetched.
    event.respondWith(
      caches.match(req).then(
        (hit) =>
          hit ||
          fetch(req).then((res) => {
            const copy = res.clone();
            if (res.ok) void caches.open(CACHE).then((c) => c.put(req, copy));
            return res;
          }),
      ),
    );
  }
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const FACTOR = /^YF[0-9a-f]{32}$/;
const CHALLENGE = /^YC[0-9a-f]{32}$/;

// A Verify v2 challenge's push carries { type: 'verify_challenge', service_sid, factor_sid,
// challenge_sid, message } (docs/verify-v2.md "Notifications"): no fields, no hidden details.
function verifyChallenge(data) {
  if (!data || data.type !== 'verify_challenge' || !FACTOR.test(String(data.factor_sid)) || !CHALLENGE.test(String(data.challenge_sid))) return null;
  const message = typeof data.message === 'string' && data.message ? data.message.slice(0, 200) : 'Sign-in request';
  return { type: 'verify_challenge', factor_sid: data.factor_sid, challenge_sid: data.challenge_sid, message };
}

// A push carries { type: 'approval_request', uuid, message, app_name } and nothing secret
// (docs/device-api.md "Web Push"). With userVisibleOnly every push must show a notification.
self.addEventListener('push', (event) => {
  let data = null;
  try {
    data = event.data ? event.data.json() : null;
  } catch {
    data = null;
  }
  const vc = verifyChallenge(data);
  if (vc) {
    event.waitUntil(
      self.registration.showNotification(vc.message, {
        body: 'Tap to approve or deny',
        tag: vc.challenge_sid,
        data: vc,
        icon: '/authenticator/icon-192.png',
        badge: '/authenticator/icon-192.png',
        requireInteraction: true,
      }),
    );
    return;
  }
  const ok = data && data.type === 'approval_request' && typeof data.uuid === 'string' && UUID.test(data.uuid);
  const message = ok && typeof data.message === 'string' && data.message ? data.message.slice(0, 200) : 'Login request';
  const payload = ok ? { type: 'approval_request', uuid: data.uuid, message, app_name: String(data.app_name || '').slice(0, 100) } : null;
  event.waitUntil(
    self.registration.showNotification(message, {
      body: 'Tap to approve or deny',
      tag: payload ? payload.uuid : 'twofold-request',
      data: payload,
      icon: '/authenticator/icon-192.png',
      badge: '/authenticator/icon-192.png',
      requireInteraction: true,
    }),
  );
});

// A tap: focus an open authenticator and tell it which request (or which Verify push factor's
// challenges), or open one at #request=<uuid> (#factor=<YF…>).
self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const vc = verifyChallenge(event.notification.data);
  if (vc) {
    event.waitUntil(focusOrOpen(`/authenticator/#factor=${vc.factor_sid}`, { type: 'open_factor', factor_sid: vc.factor_sid }));
    return;
  }
  const uuid = event.notification.data && UUID.test(event.notification.data.uuid) ? event.notification.data.uuid : null;
  const url = uuid ? `/authenticator/#request=${uuid}` : '/authenticator/';
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then(async (windows) => {
      const open = windows.find((w) => new URL(w.url).pathname.startsWith('/authenticator'));
      if (open) {
        await open.focus();
        if (uuid) open.postMessage({ type: 'open_request', uuid });
        return;
      }
      await self.clients.openWindow(url);
    }),
  );
});

function focusOrOpen(url, message) {
  return self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then(async (windows) => {
    const open = windows.find((w) => new URL(w.url).pathname.startsWith('/authenticator'));
    if (open) {
      await open.focus();
      open.postMessage(message);
      return;
    }
    await self.clients.openWindow(url);
  });
}
