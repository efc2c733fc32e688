import { deletePushSubscription, savePushSubscription, vapidPublicKey } from './protocol.js';
import type { DeviceState, VerifyPushFactor } from './store.js';
import { savePushFactorSubscription } from './verify-push.js';

/**
 * Web Push for the closed PWA (docs/device-api.md "Web Push"): subscribe with the service's VAPID
 * key and register the subscription with a signed PUT. The browser's push service then wakes the
 * service worker (sw.js), which shows the notification.
 */
export type PushState = 'unsupported' | 'denied' | 'off' | 'on';

export function pushSupported(): boolean {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

async function registration(): Promise<ServiceWorkerRegistration> {
  return navigator.serviceWorker.ready;
}

function sameKey(a: ArrayBuffer | null, b: Uint8Array): boolean {
  if (!a) return false;
  const x = new Uint8Array(a);
  return x.length === b.length && x.every((v, i) => v === b[i]);
}

export async function pushState(): Promise<PushState> {
  if (!pushSupported()) return 'unsupported';
  if (Notification.permission === 'denied') return 'denied';
  if (Notification.permission !== 'granted') return 'off';
  const sub = await (await registration()).pushManager.getSubscription();
  return sub ? 'on' : 'off';
}

/**
 * This browser's one push subscription (kept when it uses the service's key, else made): the
 * authenticator device and every Verify push factor of this PWA register the same one.
 */
async function browserSubscription(where: { serviceUrl: string }): Promise<PushSubscription> {
  const reg = await registration();
  const key = await vapidPublicKey(where);
  let sub = await reg.pushManager.getSubscription();
  if (sub && !sameKey(sub.options.applicationServerKey, key)) {
    // The service's VAPID key changed: the old subscription can never be used again.
    await sub.unsubscribe();
    sub = null;
  }
  return sub ?? (await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key }));
}

/** Subscribe (or keep the current subscription) and register it for the device. */
async function subscribeAndRegister(d: DeviceState): Promise<void> {
  await savePushSubscription(d, (await browserSubscription(d)).toJSON());
}

/**
 * After a Verify push factor is enrolled: ask permission if not asked yet, then register this
 * browser's subscription for the factor. False when notifications are off or unavailable (the
 * PWA still lists the factor's challenges while open).
 */
export async function registerFactorPush(f: VerifyPushFactor): Promise<boolean> {
  if (!pushSupported()) return false;
  const permission = Notification.permission === 'default' ? await Notification.requestPermission() : Notification.permission;
  if (permission !== 'granted') return false;
  await savePushFactorSubscription(f, (await browserSubscription(f)).toJSON());
  return true;
}

/** After a click on "Notify me of login requests": ask permission, subscribe, register. */
export async function enablePush(d: DeviceState): Promise<PushState> {
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') return permission === 'denied' ? 'denied' : 'off';
  await subscribeAndRegister(d);
  return 'on';
}

/** On load, when permission was granted earlier: make sure the service has the current subscription. */
export async function refreshPush(d: DeviceState): Promise<PushState> {
  if (!pushSupported() || Notification.permission !== 'granted') return pushState();
  await subscribeAndRegister(d);
  return 'on';
}

export async function disablePush(d: DeviceState): Promise<void> {
  if (pushSupported()) {
    const sub = await (await registration()).pushManager.getSubscription();
    await sub?.unsubscribe();
  }
  await deletePushSubscription(d);
}

/** Close a request's notification once it is answered or closed elsewhere. */
export async function closeNotification(uuid: string): Promise<void> {
  if (!('serviceWorker' in navigator)) return;
  const reg = await navigator.serviceWorker.getRegistration('/authenticator/');
  for (const n of (await reg?.getNotifications({ tag: uuid })) ?? []) n.close();
}
