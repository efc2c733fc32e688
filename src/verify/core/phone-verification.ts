import type { Kysely } from 'kysely';
import { randomUUID } from 'node:crypto';
import type { CodeHasher } from '../../platform/crypto.js';
import { randomDigits } from '../../platform/crypto.js';
import type { CoreDatabase } from '../schema.js';
import { ChallengeStore } from './challenges.js';

/** Authy answered `seconds_to_expire: 599`; the challenge lives 10 minutes. */
export const PHONE_VERIFICATION_TTL_MS = 10 * 60 * 1000;

export type StartResult = { ok: true; uuid: string; code: string; expiresAt: number } | { ok: false; reason: 'attempts_exhausted' };
export type PhoneCheckResult = 'valid' | 'wrong' | 'none';

/**
 * Phone verification (Authy's Phone Verification API): one current challenge per app and phone,
 * the same rules as SMS codes (ChallengeStore: hashed, attempt budget counted before comparing,
 * resend keeps the budget, the expiry and the uuid, consumed once).
 */
export class PhoneVerifications {
  private readonly store: ChallengeStore;

  constructor(db: Kysely<CoreDatabase>, hasher: CodeHasher, maxAttempts: number) {
    this.store = new ChallengeStore(db, hasher, maxAttempts, { table: 'phone_verifications', subject: ['app_id', 'phone_e164'], id: 'uuid' });
  }

  private purpose(appId: number, e164: string): string {
    return `phone:${appId}:${e164}`;
  }

  async start(appId: number, e164: string, codeLength: number, now: number): Promise<StartResult> {
    const code = randomDigits(codeLength);
    const r = await this.store.issue({ app_id: appId, phone_e164: e164 }, this.purpose(appId, e164), code, PHONE_VERIFICATION_TTL_MS, now, randomUUID());
    return r.ok ? { ok: true, uuid: r.id, code, expiresAt: r.expiresAt } : { ok: false, reason: 'attempts_exhausted' };
  }

  check(appId: number, e164: string, code: string, now: number): Promise<PhoneCheckResult> {
    return this.store.check({ app_id: appId, phone_e164: e164 }, this.purpose(appId, e164), code, now);
  }
}
