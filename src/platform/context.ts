import type { AuditLog } from './audit.js';
import type { Config } from './config.js';
import type { Clock } from './clock.js';
import { CodeHasher, SecretBox } from './crypto.js';
import type { Db } from './db.js';
import type { EventBus } from './events.js';
import type { Logger } from './logger.js';
import type { LimiterFactory } from './rate-limit.js';

/** What every bounded context receives from the platform. */
export interface Platform {
  config: Config;
  db: Db;
  logger: Logger;
  clock: Clock;
  bus: EventBus;
  limits: LimiterFactory;
  secretBox: SecretBox;
  codeHasher: CodeHasher;
  audit: AuditLog;
}

export function cryptoFor(config: Config): { secretBox: SecretBox; codeHasher: CodeHasher } {
  return { secretBox: new SecretBox(config.encryptionKey), codeHasher: new CodeHasher(config.encryptionKey) };
}
