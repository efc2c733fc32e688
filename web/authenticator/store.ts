/** The device's state in IndexedDB. CryptoKey objects are stored as is (structured clone), so the
 * non-extractable private key never exists outside the browser's key store. */
export interface DeviceState {
  deviceId: string;
  name: string;
  serviceUrl: string;
  userHint: string;
  appName: string;
  totp: { secret: string; digits: number; period: number; algorithm: string; issuer: string; label: string };
  keyPair: CryptoKeyPair;
}

const DB = 'twofold-authenticator';
const STORE = 'kv';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function tx<T>(mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      const req = fn(t.objectStore(STORE));
      t.oncomplete = () => resolve(req.result);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error);
    });
  } finally {
    db.close();
  }
}

export const loadDevice = () => tx<DeviceState | undefined>('readonly', (s) => s.get('device') as IDBRequest<DeviceState | undefined>);
export const saveDevice = (d: DeviceState) => tx('readwrite', (s) => s.put(d, 'device'));
export const forgetDevice = () => tx('readwrite', (s) => s.delete('device'));

/**
 * A Verify v2 push factor this browser holds (docs/verify-v2.md "Push factors"): made with an
 * app's access token, its key pair made here (the private key non-extractable, stored as a
 * CryptoKey like the device's). Kept under `verify-push:<factor SID>`, one entry per factor.
 */
export interface VerifyPushFactor {
  factorSid: string;
  serviceSid: string;
  identity: string;
  friendlyName: string;
  /** `unverified` until the proof was taken, then `verified`. */
  status: string;
  /** The service's origin (the PWA's own: it reaches no other). */
  serviceUrl: string;
  createdAt: number;
  keyPair: CryptoKeyPair;
}

const PUSH_FACTOR = 'verify-push:';
const pushFactorKeys = () => IDBKeyRange.bound(PUSH_FACTOR, `${PUSH_FACTOR}\uffff`);

export const loadPushFactors = () => tx<VerifyPushFactor[]>('readonly', (s) => s.getAll(pushFactorKeys()) as IDBRequest<VerifyPushFactor[]>);
export const savePushFactor = (f: VerifyPushFactor) => tx('readwrite', (s) => s.put(f, `${PUSH_FACTOR}${f.factorSid}`));
export const forgetPushFactor = (factorSid: string) => tx('readwrite', (s) => s.delete(`${PUSH_FACTOR}${factorSid}`));
