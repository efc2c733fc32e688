import type { Router } from 'express';
import type { AppLookup } from './authy-http.js';

/** A user's TOTP parameters, as an authenticator needs them. */
export interface TotpParameters {
  /** Base32 (RFC 4648, no padding) of the 160-bit secret. */
  secret: string;
  digits: number;
  period: number;
  algorithm: 'SHA1';
  issuer: string;
  /** Account label shown in authenticator apps (the user's email). */
  label: string;
  /** `otpauth://totp/...` URI. */
  uri: string;
}

/** Owned by the core (issue 2); used by device activation (issue 3). */
export interface TotpSecretStore {
  /** The user's secret, created (and sealed at rest) on first use. */
  getOrCreate(userId: number): Promise<TotpParameters>;
}

export interface ActiveDevice {
  id: string;
  name: string;
  createdAt: number;
}

/** Owned by OneTouch/devices (issue 3); used by the core for SMS `ignored` and user status. */
export interface DeviceDirectory {
  activeDevices(userId: number): Promise<ActiveDevice[]>;
}

export interface VerifyPart {
  /** Adds this part's routes (with their own parsers and error handlers) to the service router. */
  mount(router: Router): void;
  start(baseUrl: string): Promise<void>;
  stop(): Promise<void>;
}

export interface CorePart extends VerifyPart {
  totp: TotpSecretStore;
  appLookup: AppLookup;
}

export interface OneTouchPart extends VerifyPart {
  devices: DeviceDirectory;
}
