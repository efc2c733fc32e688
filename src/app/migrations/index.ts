import type { Migration } from '../../platform/migrations/helpers.js';
import { migration as m003 } from './003-web-app.js';
import { migration as m005 } from './005-recovery-codes.js';
import { migration as m009 } from './009-account-factors.js';
import { migration as m010 } from './010-known-browsers.js';
import { migration as m011 } from './011-password-resets.js';
import { migration as m012 } from './012-session-details.js';
import { migration as m013 } from './013-remembered-browsers.js';
import { migration as m014 } from './014-signup-email.js';
import { migration as m015 } from './015-email-changes.js';
import { migration as m016 } from './016-phone-changes.js';
import { migration as m017 } from './017-passkeys.js';

/** The web app's tables. Numbers are the system's (`src/migrations.ts` orders every context's). */
export const appMigrations: Record<string, Migration> = {
  '003-web-app': m003,
  '005-recovery-codes': m005,
  '009-account-factors': m009,
  '010-known-browsers': m010,
  '011-password-resets': m011,
  '012-session-details': m012,
  '013-remembered-browsers': m013,
  '014-signup-email': m014,
  '015-email-changes': m015,
  '016-phone-changes': m016,
  '017-passkeys': m017,
};
