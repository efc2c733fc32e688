import type { Router } from 'express';
import type { Kysely } from 'kysely';
import type { OneTouchDatabase } from './schema-onetouch.js';
import type { ApiRoute } from './api.js';
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

/** The id under which the legacy secret (`verify_users.totp_secret`) is listed and removed. */
export const LEGACY_SECRET_ID = 'legacy';

/** Who asked, for the audit trail. */
export interface AuditMeta {
  ip?: string | null | undefined;
  userAgent?: string | null | undefined;
}

/** Owned by the core; used by devices (OneTouch). Every device has its own secret. */
export interface TotpSecretStore {
  /** A fresh secret for a new device, written in the caller's transaction (the device row's). */
  createForDevice(trx: Kysely<OneTouchDatabase>, userId: number, deviceId: string, meta: AuditMeta): Promise<TotpParameters>;
  /**
   * The device's own secret. A device enrolled before per-device secrets has none: it gets the
   * user's legacy shared secret while the user has one, else one of its own is created now.
   */
  forDevice(userId: number, deviceId: string): Promise<TotpParameters>;
  /** Delete the device's secret in the caller's transaction (the revocation's): its codes fail at once. */
  removeForDevice(trx: Kysely<OneTouchDatabase>, userId: number, deviceId: string, meta: AuditMeta): Promise<void>;
  /** The user's third-party app enrolments (and the legacy secret, id 'legacy'), never a secret. */
  listApps(userId: number): Promise<TotpAppView[]>;
  /** Remove one (id 'legacy' clears the legacy secret); false when there was no such one. Its codes fail at once. */
  removeApp(userId: number, id: string, meta: AuditMeta): Promise<boolean>;
}

/** A third-party app enrolment as the relying app sees it (GET /v1/users/{id}/totp-apps). */
export interface TotpAppView {
  id: string;
  label: string | null;
  state: 'pending' | 'active';
  created_at: number;
  confirmed_at: number | null;
  last_used_at: number | null;
  /** The secret shared by every authenticator enrolled before per-authenticator secrets. */
  legacy: boolean;
}

export interface ActiveDevice {
  id: string;
  name: string;
  createdAt: number;
}

/** What OneTouch may know of an app: what it shows, and where the app is called back. */
export interface AppInfo {
  id: number;
  name: string;
  callbackUrl: string | null;
  builtin: boolean;
}

/** What OneTouch may know of a user of the service. */
export interface ServiceUser {
  id: number;
  appId: number;
  email: string;
}

/** Owned by the core; used by OneTouch, which never reads the core's tables itself. */
export interface ServiceDirectory {
  /** The user, when it exists and (with `appId`) belongs to that app. */
  user(userId: number, appId?: number): Promise<ServiceUser | undefined>;
  /**
   * The apps with these ids (unknown ids are absent), possibly as they were up to 30 s ago;
   * `fresh` reads them now (where a callback goes: an operator's correction counts at once).
   */
  apps(ids: readonly number[], o?: { fresh?: boolean }): Promise<Map<number, AppInfo>>;
  /**
   * Hold the user's row until the caller's transaction ends (PostgreSQL; SQLite runs one write
   * transaction at a time): two transactions that count a user's things queue instead of racing.
   */
  lockUser(trx: Kysely<OneTouchDatabase>, userId: number): Promise<void>;
}

/** Owned by OneTouch/devices; used by the core for SMS `ignored` and user status. */
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
  /** The core's operations of the API for relying apps (both bindings serve them). */
  api: ApiRoute[];
  totp: TotpSecretStore;
  directory: ServiceDirectory;
  appLookup: AppLookup;
}

/** Verify v2 webhooks go out through OneTouch's durable callback outbox (same retries, same leases). */
export interface WebhookSink {
  /**
   * Queue a POST of `params` (a form) to `url`, signed with X-Twilio-Signature by the app's key;
   * `trx` is the transaction of the change it tells of (the event exists iff the change does).
   */
  enqueue(trx: Kysely<unknown> | undefined, w: { eventId: string; appId: number; url: string; params: Record<string, string> }): Promise<void>;
  /** Start a delivery pass now (after the transaction committed). */
  kick(): void;
}

export interface OneTouchPart extends VerifyPart {
  /** OneTouch's operations of the API for relying apps. */
  api: ApiRoute[];
  devices: DeviceDirectory;
  webhooks: WebhookSink;
}
