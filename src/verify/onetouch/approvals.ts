import { randomInt, randomUUID } from 'node:crypto';
import type { Selectable } from 'kysely';
import { AuditType } from '../../platform/audit.js';
import { constantTimeEqual, es256Verifies } from '../../platform/crypto.js';
import type { OneTouchPlatform, OneTouchTables } from '../schema-onetouch.js';
import { buildCallbackBody, callbackUrlFor } from './callbacks.js';
import type { ServiceDirectory } from '../ports.js';
import type { AuthenticatedDevice, Devices } from './devices.js';
import { approvalRefused, invalidRequest, notFound, notPending } from './errors.js';
import { approvalSigningString, type Decision } from '../../protocol/device.js';
import { detailsHash } from '../../protocol/node-hash.js';
import { userChannel, type UserEvent } from './user-events.js';

/** Wrong numbers tolerated on one request before approval is refused for good. */
export const MAX_NUMBER_ATTEMPTS = 3;

export type ApprovalRow = Selectable<OneTouchTables['approval_requests']>;
export type ApprovalStatus = ApprovalRow['status'];

export interface Logo {
  res: string;
  url: string;
}

export interface NewApproval {
  appId: number;
  userId: number;
  message: string;
  details: Record<string, string>;
  hiddenDetails: Record<string, string>;
  logos: Logo[] | null;
  /** 0 = never expires. */
  secondsToExpire: number;
  numberMatching: boolean;
}

/** What a device sees of a request (docs/device-api.md `ApprovalForDevice`). */
export interface ApprovalForDevice {
  uuid: string;
  seq: number;
  message: string;
  details: Record<string, string>;
  logos: Logo[];
  created_at: number;
  expires_at: number | null;
  number_matching: boolean;
  app_name: string;
}

const parseJson = <T>(s: string | null, fallback: T): T => (s === null ? fallback : (JSON.parse(s) as T));

export interface AnswerInput {
  decision: Decision;
  number: string | null;
  detailsHash: string;
  signature: string;
}

/** Approval requests (OneTouch): creation, status, the device's view and answers. */
export class Approvals {
  constructor(
    private readonly p: OneTouchPlatform,
    private readonly devices: Devices,
    private readonly directory: ServiceDirectory,
    private readonly onAnswered: () => void,
    /** Called after a new request is committed (Web Push); must not throw or block. */
    private readonly onCreated: (userId: number, uuid: string) => void = () => {},
  ) {}

  async create(input: NewApproval, ctx: { ip?: string | undefined }): Promise<{ uuid: string; number: string | null; seq: number }> {
    const now = this.p.clock.now();
    const uuid = randomUUID();
    const number = input.numberMatching ? String(randomInt(100)).padStart(2, '0') : null;
    const row = await this.p.db.db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('approval_requests')
        .values({
          uuid,
          app_id: input.appId,
          user_id: input.userId,
          message: input.message,
          details: JSON.stringify(input.details),
          hidden_details: JSON.stringify(input.hiddenDetails),
          logos: input.logos ? JSON.stringify(input.logos) : null,
          status: 'pending',
          number,
          seconds_to_expire: input.secondsToExpire,
          created_at: now,
          updated_at: now,
          expires_at: input.secondsToExpire === 0 ? null : now + input.secondsToExpire * 1000,
          processed_at: null,
          device_id: null,
          device_signature: null,
        })
        .returning('seq')
        .executeTakeFirstOrThrow();
      await this.p.audit.record(
        {
          type: AuditType.APPROVAL_REQUESTED,
          outcome: 'info',
          userRef: `authy:${input.userId}`,
          ip: ctx.ip ?? null,
          detail: { approval_uuid: uuid, app_id: input.appId, number_matching: input.numberMatching },
        },
        trx,
      );
      return inserted;
    });
    await this.publish(input.userId, { kind: 'created', uuid, seq: row.seq });
    this.onCreated(input.userId, uuid);
    return { uuid, number, seq: row.seq };
  }

  /** Requests created for the user in the last `windowMs` (the push-bombing budget). */
  async countRecent(userId: number, windowMs: number): Promise<number> {
    const r = await this.p.db.db
      .selectFrom('approval_requests')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', userId)
      .where('created_at', '>', this.p.clock.now() - windowMs)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** The request as its app sees it, expired lazily; undefined when not this app's. */
  async forApp(appId: number, uuid: string) {
    await this.expireIfDue(uuid);
    const row = await this.p.db.db.selectFrom('approval_requests').selectAll().where('uuid', '=', uuid).where('app_id', '=', appId).executeTakeFirst();
    if (!row) return undefined;
    const [apps, user] = await Promise.all([this.directory.apps([appId]), this.directory.user(row.user_id, appId)]);
    const app = apps.get(appId);
    return app && user ? { ...row, app_name: app.name, user_email: user.email } : undefined;
  }

  /** Pending, unexpired requests of a user with `seq > afterSeq`, newest first. */
  async pendingForUser(userId: number, afterSeq = 0): Promise<ApprovalForDevice[]> {
    const now = this.p.clock.now();
    const found = await this.p.db.db
      .selectFrom('approval_requests as a')
      .select(['a.uuid', 'a.seq', 'a.message', 'a.details', 'a.logos', 'a.created_at', 'a.expires_at', 'a.number', 'a.app_id'])
      .where('a.user_id', '=', userId)
      .where('a.status', '=', 'pending')
      .where('a.seq', '>', afterSeq)
      .where((eb) => eb.or([eb('a.expires_at', 'is', null), eb('a.expires_at', '>', now)]))
      .orderBy('a.seq', 'desc')
      .limit(200)
      .execute();
    const apps = await this.directory.apps(found.map((r) => r.app_id));
    const rows = found.flatMap((r) => {
      const app = apps.get(r.app_id);
      return app ? [{ ...r, app_name: app.name }] : [];
    });
    return rows.map((r) => ({
      uuid: r.uuid,
      seq: r.seq,
      message: r.message,
      details: parseJson<Record<string, string>>(r.details, {}),
      logos: parseJson<Logo[]>(r.logos, []),
      created_at: r.created_at,
      expires_at: r.expires_at,
      number_matching: r.number !== null,
      app_name: r.app_name,
    }));
  }

  /** One pending request for the user's device, or undefined. */
  async pendingOne(userId: number, uuid: string): Promise<ApprovalForDevice | undefined> {
    const list = await this.pendingForUser(userId, 0);
    return list.find((r) => r.uuid === uuid);
  }

  /** Mark a past-expiry pending request expired (conditional: at most once). */
  async expireIfDue(uuid: string): Promise<boolean> {
    const now = this.p.clock.now();
    const r = await this.p.db.db
      .updateTable('approval_requests')
      .set({ status: 'expired', updated_at: now })
      .where('uuid', '=', uuid)
      .where('status', '=', 'pending')
      .where('expires_at', 'is not', null)
      .where('expires_at', '<=', now)
      .returning(['user_id'])
      .executeTakeFirst();
    if (!r) return false;
    await this.publish(r.user_id, { kind: 'closed', uuid, status: 'expired' });
    return true;
  }

  /** Expire every due pending request (so streams hear about it); returns how many. */
  async expireDue(limit = 100): Promise<number> {
    const due = await this.p.db.db
      .selectFrom('approval_requests')
      .select('uuid')
      .where('status', '=', 'pending')
      .where('expires_at', 'is not', null)
      .where('expires_at', '<=', this.p.clock.now())
      .limit(limit)
      .execute();
    let n = 0;
    for (const d of due) if (await this.expireIfDue(d.uuid)) n++;
    return n;
  }

  /**
   * A device's answer (docs/device-api.md "Answering a request"). Every refusal leaves the
   * request as it was, except that a wrong number uses up one of the request's attempts.
   */
  async answer(device: AuthenticatedDevice, uuid: string, input: AnswerInput, ctx: { ip?: string | undefined; userAgent?: string | undefined }) {
    const db = this.p.db.db;
    const row = await db.selectFrom('approval_requests').selectAll().where('uuid', '=', uuid).executeTakeFirst();
    // Another user's request looks exactly like a missing one.
    if (!row || row.user_id !== device.userId) throw notFound('no such request for this device');
    const key = await this.devices.publicKeyOf(device.id);
    const signed = approvalSigningString({ uuid, decision: input.decision, number: input.number, detailsHash: input.detailsHash });
    if (!key || !es256Verifies(key, signed, input.signature)) {
      throw approvalRefused('bad approval signature');
    }
    const expected = detailsHash(row.message, parseJson<Record<string, string>>(row.details, {}));
    if (!constantTimeEqual(expected, input.detailsHash)) throw approvalRefused('details hash mismatch');
    if (row.status !== 'pending') throw notPending(row.status);
    if (row.expires_at !== null && row.expires_at <= this.p.clock.now()) {
      await this.expireIfDue(uuid);
      throw notPending('expired');
    }
    if (input.decision === 'approve' && row.number !== null) {
      if (input.number === null) throw approvalRefused('number missing');
      // Reserve an attempt before comparing: a burst of guesses cannot all be compared
      // against the same counter value, so at most MAX_NUMBER_ATTEMPTS are ever checked.
      const slot = await db
        .updateTable('approval_requests')
        .set((eb) => ({ number_attempts: eb('number_attempts', '+', 1) }))
        .where('uuid', '=', uuid)
        .where('status', '=', 'pending')
        .where('number_attempts', '<', MAX_NUMBER_ATTEMPTS)
        .executeTakeFirst();
      if (Number(slot.numUpdatedRows) !== 1) throw approvalRefused('number attempts exhausted');
      if (!constantTimeEqual(row.number, input.number)) throw approvalRefused('wrong number');
    }
    const status: ApprovalStatus = input.decision === 'approve' ? 'approved' : 'denied';
    const app = (await this.directory.apps([row.app_id], { fresh: true })).get(row.app_id);
    const callbackUrl = app ? callbackUrlFor(app, this.p.config.PUBLIC_URL) : null;
    const now = this.p.clock.now();
    const changed = await db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('approval_requests')
        .set({ status, updated_at: now, processed_at: now, device_id: device.id, device_signature: input.signature })
        .where('uuid', '=', uuid)
        .where('status', '=', 'pending')
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) return false;
      if (callbackUrl) {
        const body = buildCallbackBody({ row: { ...row, status }, deviceId: device.id, signature: input.signature, answeredAt: now });
        // Same transaction as the status change: the callback exists iff the answer does.
        await trx
          .insertInto('callback_outbox')
          .values({ approval_uuid: uuid, app_id: row.app_id, url: callbackUrl, body: JSON.stringify(body), created_at: now, next_attempt_at: now, lease_until: null, delivered_at: null, gave_up_at: null, last_error: null })
          .execute();
      }
      await this.p.audit.record(
        {
          type: AuditType.APPROVAL_ANSWERED,
          outcome: status === 'approved' ? 'success' : 'failure',
          userRef: `authy:${row.user_id}`,
          ip: ctx.ip ?? null,
          userAgent: ctx.userAgent ?? null,
          detail: { device_id: device.id, approval_uuid: uuid, status },
        },
        trx,
      );
      return true;
    });
    if (!changed) {
      const now2 = await db.selectFrom('approval_requests').select('status').where('uuid', '=', uuid).executeTakeFirst();
      await this.expireIfDue(uuid);
      throw notPending(now2?.status === 'pending' ? 'expired' : (now2?.status ?? 'unknown'));
    }
    this.onAnswered();
    await this.publish(row.user_id, { kind: 'closed', uuid, status });
    return { approval_request: { uuid, status } };
  }

  async publish(userId: number, event: UserEvent): Promise<void> {
    try {
      await this.p.bus.publish(userChannel(userId), event as unknown as Record<string, unknown>);
    } catch (err) {
      // The database stays the source of truth: streams catch up on reconnect.
      this.p.logger.warn({ err }, 'approval event publish failed');
    }
  }
}

/** Validation helpers shared by the HTTP adapters. */
export function assertUuid(uuid: string): void {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(uuid)) throw invalidRequest('malformed uuid');
}
