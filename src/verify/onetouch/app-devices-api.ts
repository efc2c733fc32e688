import * as z from 'zod';
import { AuditType } from '../../platform/audit.js';
import type { ApiCall, ApiRoute } from '../api.js';
import { LEGACY_SECRET_ID, type ServiceDirectory, type TotpSecretStore } from '../ports.js';
import type { OneTouchPlatform } from '../schema-onetouch.js';
import type { Devices } from './devices.js';
import { invalidRequest, notFound } from './errors.js';
import { unwrap } from './http-devices.js';

const activationRequestSchema = z.object({ name: z.string().trim().min(1).max(64).optional() }).strict();

/**
 * The device API's app side (docs/device-api.md), as operations: a relying app, with its API
 * key, manages its users' authenticators, third-party TOTP apps and lockouts.
 */
export function appDeviceApi(p: OneTouchPlatform, deps: { directory: ServiceDirectory; devices: Devices; totp: TotpSecretStore }): ApiRoute[] {
  const { devices } = deps;
  const meta = (c: ApiCall) => ({ ip: c.ip ?? undefined, userAgent: c.userAgent ?? undefined });

  /** The user named in the path, when it belongs to the calling app; 404 otherwise. */
  const appUser = async (c: ApiCall): Promise<number> => {
    const id = String(c.path['authy_id']);
    const user = /^[1-9]\d{0,14}$/.test(id) ? await deps.directory.user(Number(id), c.app.id) : undefined;
    if (!user) throw notFound('unknown user for app');
    return user.id;
  };

  const route = (method: ApiRoute['method'], path: string, op: ApiRoute['op']): ApiRoute => ({ method, path: `/v1${path}`, format: 'device', op });
  return [
    route('POST', '/users/:authy_id/activations', async (c) => {
      const userId = await appUser(c);
      const body = activationRequestSchema.safeParse(c.body ?? {});
      if (!body.success) throw invalidRequest('name must be a string of 1-64 characters');
      const activation = unwrap(await devices.createActivation(userId, body.data.name ?? null));
      return { status: 201, body: { activation } };
    }),

    route('GET', '/users/:authy_id/devices', async (c) => {
      const userId = await appUser(c);
      return { body: { devices: await devices.list(userId) } };
    }),

    route('DELETE', '/users/:authy_id/devices/:device_id', async (c) => {
      const userId = await appUser(c);
      const deviceId = String(c.path['device_id']);
      if (!/^[0-9a-f-]{36}$/.test(deviceId)) throw notFound('malformed device id');
      return { body: unwrap(await devices.revoke(userId, deviceId, meta(c))) };
    }),

    // The second-factor lockouts the service recorded for a user, newest first (Twofold
    // extension, docs/authy-compat.md): an app shows them to its user without reading the
    // service's tables.
    route('GET', '/users/:authy_id/lockouts', async (c) => {
      const userId = await appUser(c);
      const rows = await p.db.db
        .selectFrom('audit_events')
        .select(['id', 'at'])
        .where('user_ref', '=', `authy:${userId}`)
        .where('type', '=', AuditType.LOCKOUT)
        .orderBy('at', 'desc')
        .orderBy('id', 'desc')
        .limit(20)
        .execute();
      return { body: { lockouts: rows.map((r) => ({ id: r.id, at: r.at })) } };
    }),

    // Third-party TOTP apps of a user (Twofold extension, docs/authy-compat.md): never the secret.
    route('GET', '/users/:authy_id/totp-apps', async (c) => {
      const userId = await appUser(c);
      return { body: { totp_apps: await deps.totp.listApps(userId) } };
    }),

    route('DELETE', '/users/:authy_id/totp-apps/:id', async (c) => {
      const userId = await appUser(c);
      const id = String(c.path['id']);
      if (id !== LEGACY_SECRET_ID && !/^[0-9a-f-]{36}$/.test(id)) throw notFound('malformed TOTP app id');
      if (!(await deps.totp.removeApp(userId, id, meta(c)))) throw notFound('TOTP app not found for user');
      return { body: { removed: id } };
    }),
  ];
}
