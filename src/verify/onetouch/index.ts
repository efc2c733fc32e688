import type { Platform } from '../../platform/context.js';
import type { AppLookup } from '../authy-http.js';
import type { OneTouchPart, TotpSecretStore } from '../ports.js';

/** Stub, replaced by issue 3's implementation. */
export function createOneTouch(_p: Platform, _deps: { totp: TotpSecretStore; appLookup: AppLookup }): OneTouchPart {
  return {
    devices: { activeDevices: async () => [] },
    mount: () => {},
    start: async () => {},
    stop: async () => {},
  };
}
