import { createPublicKey, randomUUID, type JsonWebKey, type KeyObject } from 'node:crypto';
import { qrCodeDataUrl } from '../../platform/qr-code.js';
import { AuditType } from '../../platform/audit.js';
import type { OneTouchPlatform } from '../schema-onetouch.js';
import { es256Verifies, randomToken, sha256Hex } from '../../platform/crypto.js';
import type { ActiveDevice, DeviceDirectory, ServiceDirectory, TotpSecretStore } from '../ports.js';
import { requestSigningString, signingHeadersFault, type ReceivedSigningHeaders, type SigningHeaderValues } from '../../protocol/device.js';
import { emailHint, parsePublicJwk, totpView } from './device-keys.js';
import { userChannel } from './user-events.js';

/** Activation links are valid this long (docs/device-api.md). */
export const ACTIVATION_TTL_MS = 10 * 60 * 1000;
/** Live (unused, unexpired) activation links per user: a new one ends the oldest beyond this. */
export const MAX_LIVE_ACTIVATIONS = 5;
/** Active devices per user: activation beyond this is refused until one is revoked. */
export const MAX_DEVICES_PER_USER = 10;
/** Signed requests are accepted within this distance of the server's clock. */
/** Nonces are remembered at least this long (the skew window both ways, doubled). */
export const NONCE_RETENTION_MS = 10 * 60 * 1000;

/**
 * Why the devices domain said no. The HTTP adapter (http-devices.ts) maps each to its status and
 * error code; `reason` is for the log only.
 */
export interface DeviceRefusal {
  refused: 'invalid_public_key' | 'activation_invalid' | 'too_many_devices' | 'not_found' | 'auth_failed';
  reason: string;
}

const refusal = (refused: DeviceRefusal['refused'], reason: string): DeviceRefusal => ({ refused, reason });

export function isRefusal(x: unknown): x is DeviceRefusal {
  return typeof x === 'object' && x !== null && 'refused' in x;
}

/** Thrown inside a transaction to roll it back; turned into its refusal outside. */
class Refused extends Error {
  constructor(readonly refusal: DeviceRefusal) {
    super(refusal.reason);
  }
}

/** What a device sends to activate, already shaped by the HTTP adapter. */
export interface ActivationInput {
  token: string;
  name: string;
  publicKey: unknown;
}

export interface Activation {
  token: string;
  link: string;
  qr_code: string;
  expires_at: number;
}

export interface AuthenticatedDevice {
  id: string;
  userId: number;
  name: string;
}

export interface DeviceView {
  id: string;
  name: string;
  created_at: number;
  last_seen_at: number | null;
  revoked_at: number | null;
}

/** Devices (authenticators): activation, the directory, signed-request authentication, revocation. */
export class Devices implements DeviceDirectory {
  private readonly keyCache = new Map<string, KeyObject>();

  constructor(
    private readonly p: OneTouchPlatform,
    private readonly totp: TotpSecretStore,
    private readonly directory: ServiceDirectory,
  ) {}

  async activeDevices(userId: number): Promise<ActiveDevice[]> {
    const rows = await this.p.db.db
      .selectFrom('devices')
      .select(['id', 'name', 'created_at'])
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .orderBy('created_at', 'asc')
      .execute();
    return rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at }));
  }

  /** A single-use activation link for the user (the app checked the user is its own). */
  async createActivation(userId: number, name: string | null): Promise<Activation | DeviceRefusal> {
    const over = await this.overDeviceCap(this.p.db.db, userId);
    if (over) return over;
    const token = randomToken(32);
    const now = this.p.clock.now();
    const expiresAt = now + ACTIVATION_TTL_MS;
    const db = this.p.db.db;
    await db
      .insertInto('device_activations')
      .values({ token_hash: sha256Hex(token), user_id: userId, name, created_at: now, expires_at: expiresAt, consumed_at: null, device_id: null })
      .execute();
    // At most MAX_LIVE_ACTIVATIONS stay usable: the older ones end now (links pile up otherwise,
    // each a way in for whoever sees it).
    const newest = db
      .selectFrom('device_activations')
      .select('token_hash')
      .where('user_id', '=', userId)
      .where('consumed_at', 'is', null)
      .where('expires_at', '>', now)
      .orderBy('created_at', 'desc')
      .orderBy('token_hash', 'desc')
      .limit(MAX_LIVE_ACTIVATIONS);
    await db
      .updateTable('device_activations')
      .set({ expires_at: now })
      .where('user_id', '=', userId)
      .where('consumed_at', 'is', null)
      .where('expires_at', '>', now)
      .where('token_hash', 'not in', newest)
      .execute();
    const link = `${this.p.config.PUBLIC_URL}/authenticator/#activate=${token}`;
    const qr = await qrCodeDataUrl(link, { errorCorrectionLevel: 'M', margin: 2, width: 256 });
    return { token, link, qr_code: qr, expires_at: expiresAt };
  }

  /** A refusal when the user already has MAX_DEVICES_PER_USER active devices. */
  private async overDeviceCap(db: OneTouchPlatform['db']['db'], userId: number): Promise<DeviceRefusal | undefined> {
    const active = await db.selectFrom('devices').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', userId).where('revoked_at', 'is', null).executeTakeFirstOrThrow();
    return Number(active.n) >= MAX_DEVICES_PER_USER ? refusal('too_many_devices', 'device cap') : undefined;
  }

  /** Redeem an activation token: one device per token even when redemptions race. */
  async activate(input: ActivationInput, ctx: { ip?: string | undefined; userAgent?: string | undefined }) {
    const parsedKey = parsePublicJwk(input.publicKey);
    if (!parsedKey) return refusal('invalid_public_key', 'not an EC P-256 public JWK');
    const { jwk } = parsedKey;
    const tokenHash = sha256Hex(input.token);
    const now = this.p.clock.now();
    const invalid = refusal('activation_invalid', 'used, expired or unknown token');
    const pending = await this.p.db.db
      .selectFrom('device_activations')
      .select('user_id')
      .where('token_hash', '=', tokenHash)
      .where('consumed_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    const user = pending && (await this.directory.user(pending.user_id));
    if (!pending || !user) return invalid;
    const deviceId = randomUUID();
    const name = input.name;
    // The device, its own TOTP secret and the audit events commit together (or not at all).
    const totp = await this.p.db.db.transaction().execute(async (trx) => {
      // The conditional update is the single-use guarantee: of two concurrent redemptions
      // exactly one changes the row.
      const r = await trx
        .updateTable('device_activations')
        .set({ consumed_at: now, device_id: deviceId })
        .where('token_hash', '=', tokenHash)
        .where('consumed_at', 'is', null)
        .where('expires_at', '>', now)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) return undefined;
      // PostgreSQL: concurrent activations for one user queue on the user's row, so the count
      // below cannot be read by two of them at once. SQLite runs one write transaction at a time.
      await this.directory.lockUser(trx, pending.user_id);
      const over = await this.overDeviceCap(trx, pending.user_id);
      if (over) throw new Refused(over);
      await trx
        .insertInto('devices')
        .values({ id: deviceId, user_id: pending.user_id, name, public_key: JSON.stringify(jwk), created_at: now, last_seen_at: now, revoked_at: null })
        .execute();
      await this.p.audit.record(
        {
          type: AuditType.DEVICE_ACTIVATED,
          outcome: 'success',
          userRef: `authy:${pending.user_id}`,
          ip: ctx.ip ?? null,
          userAgent: ctx.userAgent ?? null,
          detail: { device_id: deviceId },
        },
        trx,
      );
      return this.totp.createForDevice(trx, pending.user_id, deviceId, ctx);
    }).catch((e: unknown) => {
      // Over the cap: nothing of it stays (the link is not used up either).
      if (e instanceof Refused) return e.refusal;
      throw e;
    });
    if (!totp) return invalid;
    if (isRefusal(totp)) return totp;
    return {
      device: { id: deviceId, name },
      user: { authy_id: pending.user_id, email_hint: emailHint(user.email) },
      totp: totpView(totp),
      service_url: this.p.config.PUBLIC_URL,
    };
  }

  async list(userId: number): Promise<DeviceView[]> {
    return this.p.db.db
      .selectFrom('devices')
      .select(['id', 'name', 'created_at', 'last_seen_at', 'revoked_at'])
      .where('user_id', '=', userId)
      .orderBy('created_at', 'asc')
      .execute();
  }

  async revoke(userId: number, deviceId: string, ctx: { ip?: string | undefined; userAgent?: string | undefined }) {
    const now = this.p.clock.now();
    // Revocation, the end of its Web Push subscription and of its TOTP secret commit together: a
    // revoked device is never pushed to, and its codes fail at once.
    const r = await this.p.db.db.transaction().execute(async (trx) => {
      const updated = await trx
        .updateTable('devices')
        .set({ revoked_at: now })
        .where('id', '=', deviceId)
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 1) {
        await trx.deleteFrom('push_subscriptions').where('device_id', '=', deviceId).execute();
        await this.totp.removeForDevice(trx, userId, deviceId, ctx);
      }
      return updated;
    });
    const row = await this.p.db.db
      .selectFrom('devices')
      .select(['id', 'revoked_at'])
      .where('id', '=', deviceId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    if (!row) return refusal('not_found', 'device not found for user');
    if (Number(r.numUpdatedRows) === 1) {
      this.keyCache.delete(deviceId);
      await this.p.audit.record({
        type: AuditType.DEVICE_REVOKED,
        outcome: 'success',
        userRef: `authy:${userId}`,
        ip: ctx.ip ?? null,
        userAgent: ctx.userAgent ?? null,
        detail: { device_id: deviceId },
      });
      await this.p.bus.publish(userChannel(userId), { kind: 'device_revoked', device_id: deviceId }).catch((err: unknown) => {
        this.p.logger.warn({ err }, 'device revocation notification failed');
      });
    }
    return { device: { id: row.id, revoked_at: row.revoked_at } };
  }

  /** The device view plus its own TOTP parameters (GET /v1/devices/{id}). */
  async describe(device: AuthenticatedDevice) {
    const user = await this.directory.user(device.userId);
    if (!user) return refusal('auth_failed', 'user gone');
    const totp = await this.totp.forDevice(device.userId, device.id);
    return {
      device: { id: device.id, name: device.name },
      user: { authy_id: user.id, email_hint: emailHint(user.email) },
      totp: totpView(totp),
      service_url: this.p.config.PUBLIC_URL,
    };
  }

  /**
   * Authenticate a signed device request (docs/device-api.md "Signed requests"). Every failure is
   * the same 401 to the client; the reason goes to the log.
   */
  async authenticate(o: {
    headers: ReceivedSigningHeaders;
    method: string;
    path: string;
    bodyDigest: string;
  }): Promise<AuthenticatedDevice | DeviceRefusal> {
    const now = this.p.clock.now();
    const fault = signingHeadersFault(o.headers, now);
    if (fault) return refusal('auth_failed', fault);
    // Present, as signingHeadersFault checked.
    const { device: deviceId, timestamp, nonce, signature } = o.headers as SigningHeaderValues;
    if (!/^[0-9a-f-]{36}$/.test(deviceId)) return refusal('auth_failed', 'malformed device id');
    if (!/^[A-Za-z0-9_-]{80,90}$/.test(signature)) return refusal('auth_failed', 'malformed signature');
    const row = await this.p.db.db
      .selectFrom('devices')
      .select(['id', 'user_id', 'name', 'public_key', 'revoked_at', 'last_seen_at'])
      .where('id', '=', deviceId)
      .executeTakeFirst();
    if (!row) return refusal('auth_failed', 'unknown device');
    if (row.revoked_at !== null) return refusal('auth_failed', 'revoked device');
    const key = this.publicKey(row.id, row.public_key);
    const data = requestSigningString({ method: o.method, path: o.path, bodyDigest: o.bodyDigest, timestamp, nonce });
    if (!es256Verifies(key, data, signature)) return refusal('auth_failed', 'bad signature');
    // Only authenticated requests reach the nonce table, so nobody else can fill it. The
    // primary key (device_id, nonce) refuses a replay even when both copies race.
    const inserted = await this.p.db.db
      .insertInto('device_nonces')
      .values({ device_id: row.id, nonce, seen_at: now })
      .onConflict((oc) => oc.columns(['device_id', 'nonce']).doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) !== 1) return refusal('auth_failed', 'replayed nonce');
    if (row.last_seen_at === null || now - row.last_seen_at > 30_000) {
      await this.p.db.db.updateTable('devices').set({ last_seen_at: now }).where('id', '=', row.id).execute();
    }
    return { id: row.id, userId: row.user_id, name: row.name };
  }

  /** The device's public key, or undefined when the device is unknown. */
  /**
   * The device's public key. A device's key never changes, so a key parsed before is used as it
   * is: callers ask for devices that `authenticate` has just found live.
   */
  async publicKeyOf(deviceId: string): Promise<KeyObject | undefined> {
    const known = this.keyCache.get(deviceId);
    if (known) return known;
    const row = await this.p.db.db.selectFrom('devices').select(['id', 'public_key']).where('id', '=', deviceId).executeTakeFirst();
    return row ? this.publicKey(row.id, row.public_key) : undefined;
  }

  private publicKey(id: string, json: string): KeyObject {
    let k = this.keyCache.get(id);
    if (!k) {
      k = createPublicKey({ key: JSON.parse(json) as JsonWebKey, format: 'jwk' });
      if (this.keyCache.size > 10_000) this.keyCache.clear();
      this.keyCache.set(id, k);
    }
    return k;
  }

  /**
   * Forget nonces older than the retention window (timestamps outside ±60 s are refused anyway)
   * and activation links a day past their expiry.
   */
  async prune(): Promise<number> {
    const now = this.p.clock.now();
    const nonces = await this.p.db.db.deleteFrom('device_nonces').where('seen_at', '<', now - NONCE_RETENTION_MS).executeTakeFirst();
    const links = await this.p.db.db.deleteFrom('device_activations').where('expires_at', '<', now - 24 * 60 * 60 * 1000).executeTakeFirst();
    return Number(nonces.numDeletedRows) + Number(links.numDeletedRows);
  }
}
