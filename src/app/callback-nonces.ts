import type { Kysely } from 'kysely';
import type { Clock } from '../platform/clock.js';
import { sha256Hex } from '../platform/crypto.js';
import { isUniqueViolation } from '../platform/db.js';
import type { AppDatabase } from './schema.js';

/**
 * Callback nonces already seen, unique on (nonce, SHA-256 of the signature): two genuine callbacks
 * may share a second, a replay may not come back.
 */
export class CallbackNonces {
  constructor(
    private readonly db: Kysely<AppDatabase>,
    private readonly clock: Clock,
  ) {}

  /** Record a verified callback's nonce; false when it was seen before (a replay). */
  async remember(nonce: string, signature: string): Promise<boolean> {
    try {
      await this.db.insertInto('app_callback_nonces').values({ nonce, signature_hash: sha256Hex(signature), seen_at: this.clock.now() }).execute();
      return true;
    } catch (e) {
      if (isUniqueViolation(e)) return false;
      throw e;
    }
  }

  /** Forget nonces older than 15 minutes: the callback route refuses any more than 5 minutes off. */
  async sweep(): Promise<void> {
    await this.db.deleteFrom('app_callback_nonces').where('seen_at', '<', this.clock.now() - KEEP_MS).execute();
  }
}

const KEEP_MS = 15 * 60 * 1000;
