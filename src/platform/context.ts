import type { AuditLog } from './audit.js';
import type { Config } from './config.js';
import type { Clock } from './clock.js';
import { CodeHasher, SecretBox } from './crypto.js';
import { withTables, type Db } from './db.js';
import type { EventBus } from './events.js';
import type { Logger } from './logger.js';
import type { Mailer } from './mail/index.js';
import type { LimiterFactory } from './rate-limit.js';
import type { PlatformTables } from './schema.js';

/**
 * What every bounded context receives from the platform. `T` is the tables its holder sees: the
 * platform's own, and a context's after `forContext`.
 */
export interface Platform<T extends object = PlatformTables> {
  config: Config;
  db: Db<T>;
  logger: Logger;
  clock: Clock;
  bus: EventBus;
  limits: LimiterFactory;
  secretBox: SecretBox;
  codeHasher: CodeHasher;
  audit: AuditLog;
  /** The system's email (MAIL_TRANSPORT). */
  mail: Mailer;
}

export function cryptoFor(config: Config): { secretBox: SecretBox; codeHasher: CodeHasher } {
  return { secretBox: new SecretBox(config.encryptionKey), codeHasher: new CodeHasher(config.encryptionKey) };
}

/** The platform as a context sees it: the same services, the database with the context's tables. */
export function forContext<T extends object>(p: Platform): Platform<PlatformTables & T> {
  return { ...p, db: withTables<T>(p.db) };
}
