// A WebAuthn authenticator in software, for the API tests: it makes credentials and signs
// assertions exactly as an authenticator does (authenticator data, CBOR attestation object,
// client data JSON), so that the server's real verification runs on what it sends. Chromium's
// virtual authenticator does the same in the e2e tests; this one can also lie (another origin,
// another RP ID, a counter that goes back) the way an attacker's would.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';

interface Credential {
  id: string;
  key: KeyObject;
  alg: 'ES256' | 'RS256' | 'EdDSA';
  counter: number;
  userHandle: string;
}

export interface AuthenticatorOptions {
  /** The page's origin the browser would put in clientDataJSON. */
  origin: string;
  /** The RP ID the authenticator hashes into its data (the options' rp.id when omitted). */
  rpId?: string;
  /** Whether the authenticator verifies its user (PIN, biometric): the UV flag. */
  userVerified?: boolean;
  /** Whether it keeps a signature counter (false: always 0, as many passkey providers do). */
  counts?: boolean;
  /** Whether its credentials are synced (the BE and BS flags). */
  backedUp?: boolean;
}

const b64 = (b: Buffer | Uint8Array) => Buffer.from(b).toString('base64url');
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest();

export class SoftAuthenticator {
  readonly credentials: Credential[] = [];
  constructor(readonly o: AuthenticatorOptions) {}

  /** A copy holding the same keys and counters (a cloned authenticator). */
  clone(): SoftAuthenticator {
    const c = new SoftAuthenticator({ ...this.o });
    for (const x of this.credentials) c.credentials.push({ ...x });
    return c;
  }

  private flags(extra: number): number {
    return 0x01 | (this.o.userVerified === false ? 0 : 0x04) | (this.o.backedUp ? 0x18 : 0) | extra;
  }

  private clientData(type: string, challenge: string, origin?: string): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin: origin ?? this.o.origin, crossOrigin: false }));
  }

  private static coseKey(key: KeyObject, alg: Credential['alg']): Uint8Array {
    const jwk = key.export({ format: 'jwk' });
    const m = new Map<number, number | Uint8Array>();
    if (alg === 'ES256') {
      m.set(1, 2).set(3, -7).set(-1, 1).set(-2, Buffer.from(jwk.x!, 'base64url')).set(-3, Buffer.from(jwk.y!, 'base64url'));
    } else if (alg === 'RS256') {
      m.set(1, 3).set(3, -257).set(-1, Buffer.from(jwk.n!, 'base64url')).set(-2, Buffer.from(jwk.e!, 'base64url'));
    } else {
      m.set(1, 1).set(3, -8).set(-1, 6).set(-2, Buffer.from(jwk.x!, 'base64url'));
    }
    return isoCBOR.encode(m);
  }

  /** Answer `navigator.credentials.create()` for `options` (PublicKeyCredentialCreationOptionsJSON). */
  register(options: Record<string, unknown>, o: { alg?: Credential['alg']; origin?: string; rpId?: string; credentialId?: Buffer } = {}) {
    const alg = o.alg ?? 'ES256';
    const { privateKey, publicKey } =
      alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
    const rp = options.rp as { id: string };
    const user = options.user as { id: string };
    const rawId = o.credentialId ?? randomBytes(32);
    const counter = 0;
    const len = Buffer.alloc(2);
    len.writeUInt16BE(rawId.length);
    const count = Buffer.alloc(4);
    count.writeUInt32BE(counter);
    const authData = Buffer.concat([sha256(o.rpId ?? this.o.rpId ?? rp.id), Buffer.from([this.flags(0x40)]), count, Buffer.alloc(16), len, rawId, SoftAuthenticator.coseKey(publicKey, alg)]);
    const attestationObject = isoCBOR.encode(new Map<string, string | Uint8Array | Map<string, string>>().set('fmt', 'none').set('attStmt', new Map<string, string>()).set('authData', new Uint8Array(authData)));
    this.credentials.push({ id: b64(rawId), key: privateKey, alg, counter, userHandle: user.id });
    return {
      id: b64(rawId),
      rawId: b64(rawId),
      type: 'public-key',
      response: { clientDataJSON: b64(this.clientData('webauthn.create', String(options.challenge), o.origin)), attestationObject: b64(attestationObject), transports: ['internal'] },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  /**
   * Answer `navigator.credentials.get()` for `options` with the first allowed credential it holds
   * (or `credentialId`). `counter` overrides the next counter value (a clone's stale one).
   */
  assert(options: Record<string, unknown>, o: { credentialId?: string; origin?: string; rpId?: string; counter?: number; type?: string } = {}) {
    const allowed = (options.allowCredentials as { id: string }[] | undefined)?.map((c) => c.id);
    const cred = this.credentials.find((c) => (o.credentialId ? c.id === o.credentialId : !allowed || allowed.includes(c.id)));
    if (!cred) throw new Error('this authenticator holds no allowed credential');
    if (o.counter !== undefined) cred.counter = o.counter;
    else if (this.o.counts !== false) cred.counter++;
    const count = Buffer.alloc(4);
    count.writeUInt32BE(cred.counter);
    const authData = Buffer.concat([sha256(o.rpId ?? this.o.rpId ?? String(options.rpId)), Buffer.from([this.flags(0)]), count]);
    const clientDataJSON = this.clientData(o.type ?? 'webauthn.get', String(options.challenge), o.origin);
    const signed = Buffer.concat([authData, sha256(clientDataJSON)]);
    const signature = cred.alg === 'EdDSA' ? sign(null, signed, cred.key) : sign('sha256', signed, cred.key);
    return {
      id: cred.id,
      rawId: cred.id,
      type: 'public-key',
      response: { clientDataJSON: b64(clientDataJSON), authenticatorData: b64(authData), signature: b64(signature), userHandle: cred.userHandle },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }
}
