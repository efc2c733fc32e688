import type { Migration } from '../../platform/migrations/helpers.js';
import { migration as m001 } from './001-verify-core.js';
import { migration as m002 } from './002-onetouch-devices.js';
import { migration as m006 } from './006-web-push.js';
import { migration as m008 } from './008-own-second-factors.js';
import { migration as m018 } from './018-verify-v2.js';
import { migration as m019 } from './019-verify-v2-factors.js';
import { migration as m020 } from './020-verify-v2-webhooks.js';
import { migration as m021 } from './021-verify-v2-push.js';
import { migration as m022 } from './022-callback-fairness.js';
import { migration as m023 } from './023-verify-v2-push-subscriptions.js';

/** The verification service's tables. Numbers are the system's (`src/migrations.ts` orders every context's). */
export const verifyMigrations: Record<string, Migration> = {
  '001-verify-core': m001,
  '002-onetouch-devices': m002,
  '006-web-push': m006,
  '008-own-second-factors': m008,
  '018-verify-v2': m018,
  '019-verify-v2-factors': m019,
  '020-verify-v2-webhooks': m020,
  '021-verify-v2-push': m021,
  '022-callback-fairness': m022,
  '023-verify-v2-push-subscriptions': m023,
};
