import { SecretBox } from '../../platform/crypto.js';
import type { OneTouchPlatform } from '../schema-onetouch.js';

type KeyDeps = Pick<OneTouchPlatform, 'db' | 'secretBox' | 'clock'>;

const ad = (appId: number) => SecretBox.associatedData('app_signing_keys', 'sealed_key', appId);

/**
 * Keep the app's API key sealed so OneTouch callbacks can be signed with it (the callback HMAC
 * is keyed by the API key itself, while `apps` stores only its hash). Call when an app is
 * created and whenever its key changes; idempotent.
 */
export async function storeAppSigningKey(p: KeyDeps, appId: number, apiKey: string): Promise<void> {
  const sealed = p.secretBox.seal(Buffer.from(apiKey, 'utf8'), ad(appId));
  const now = p.clock.now();
  await p.db.db
    .insertInto('app_signing_keys')
    .values({ app_id: appId, sealed_key: sealed, updated_at: now })
    .onConflict((oc) => oc.column('app_id').doUpdateSet({ sealed_key: sealed, updated_at: now }))
    .execute();
}

/** The app's API key, or undefined when none was stored. Throws when the ciphertext was tampered with. */
export async function loadAppSigningKey(p: KeyDeps, appId: number): Promise<string | undefined> {
  const row = await p.db.db.selectFrom('app_signing_keys').select('sealed_key').where('app_id', '=', appId).executeTakeFirst();
  if (!row) return undefined;
  return p.secretBox.open(row.sealed_key, ad(appId)).toString('utf8');
}
