import { deletePushSubscription, savePushSubscription, vapidPublicKey } from './protocol.js';
import type { DeviceState, VerifyPushFactor } from './store.js';
import { deletePushFactorSubscription, savePushFactorSubscription } from './verify-push.js';

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

/**
 * "Turn off notifications" is remembered in this browser: permission stays granted, so without it
 * the next start would subscribe again. It covers the authenticator device and every Verify push
 * factor alike (they share the browser's one subscription).
 */
const OFF_KEY = 'twofold-notifications-off';
const turnedOff = () => localStorage.getItem(OFF_KEY) === '1';

export async function pushState(): Promise<PushState> {
  if (!pushSupported()) return 'unsupported';
  if (turnedOff()) return Notification.permission === 'denied' ? 'denied' : 'off';
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
  if (!pushSupported() || turnedOff()) return false;
  const permission = Notification.permission === 'default' ? await Notification.requestPermission() : Notification.permission;
  if (permission !== 'granted') return false;
  await savePushFactorSubscription(f, (await browserSubscription(f)).toJSON());
  return true;
}

/** After a click on "Notify me of login requests": ask permission, subscribe, register. */
export async function enablePush(d: DeviceState, factors: VerifyPushFactor[] = []): Promise<PushState> {
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') return permission === 'denied' ? 'denied' : 'off';
  localStorage.removeItem(OFF_KEY);
  await subscribeAndRegister(d);
  await refreshFactorPush(factors);
  return 'on';
}

/** On load, when permission was granted earlier: make sure the service has the current subscription. */
export async function refreshPush(d: DeviceState): Promise<PushState> {
  if (!pushSupported() || Notification.permission !== 'granted' || turnedOff()) return pushState();
  await subscribeAndRegister(d);
  return 'on';
}

/**
 * On start, with notifications on: give each Verify push factor the browser's current subscription
 * (the browser may have replaced it; the service drops one its push service calls gone).
 */
export async function refreshFactorPush(factors: VerifyPushFactor[]): Promise<void> {
  if (!factors.length || !pushSupported() || Notification.permission !== 'granted' || turnedOff()) return;
  const sub = (await browserSubscription(factors[0]!)).toJSON();
  await Promise.all(factors.map((f) => savePushFactorSubscription(f, sub).catch(() => undefined)));
}

/** "Turn off notifications": for the authenticator device and every Verify push factor of this browser. */
export async function disablePush(d: DeviceState, factors: VerifyPushFactor[] = []): Promise<void> {
  localStorage.setItem(OFF_KEY, '1');
  if (pushSupported()) {
    const sub = await (await registration()).pushManager.getSubscription();
    await sub?.unsubscribe();
  }
  await deletePushSubscription(d);
  await Promise.all(factors.map((f) => deletePushFactorSubscription(f).catch(() => undefined)));
}

/** The authenticator device removed from this browser: its push goes; the subscription stays while Verify push factors use it. */
export async function forgetDevicePush(d: DeviceState, factorsRemain: boolean): Promise<void> {
  if (pushSupported() && !factorsRemain) await (await (await registration()).pushManager.getSubscription())?.unsubscribe();
  await deletePushSubscription(d);
}

/** Close a request's notification once it is answered or closed elsewhere. */
export async function closeNotification(uuid: string): Promise<void> {
  if (!('serviceWorker' in navigator)) return;
  const reg = await navigator.serviceWorker.getRegistration('/authenticator/');
  for (const n of (await reg?.getNotifications({ tag: uuid })) ?? []) n.close();
}
