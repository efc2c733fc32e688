import type { Platform } from '../../platform/context.js';
import type { CorePart, DeviceDirectory } from '../ports.js';

/** Stub, replaced by issue 2's implementation. */
export function createCore(_p: Platform, _devices: DeviceDirectory): CorePart {
  return {
    totp: { getOrCreate: async () => Promise.reject(new Error('not implemented')) },
    appLookup: async () => undefined,
    mount: () => {},
    start: async () => {},
    stop: async () => {},
  };
}
