import { createHash, generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import { RequestSigner, refusalOf } from './signer.js';
import { pushChallengeSigningString, pushDetailsPayload, pushFactorProofString, type PushDecision, type PushDetails } from '../protocol/verify-push.js';

/**
 * The Verify Push SDK's part, played by the Twofold authenticator (docs/verify-v2.md "Push
 * factors"): a P-256 key made here for each factor, the factor created with the app's access
 * token and verified by a signature, then its challenges read and answered with requests signed
 * by that key.
 */

/** One push factor this authenticator holds (kept in the state file, mode 0600: the private key never leaves it). */
export interface PushFactorState {
  url: string;
  service_sid: string;
  identity: string;
  factor_sid: string;
  friendly_name: string;
  /** EC P-256 private key as a JWK. */
  private_key: JsonWebKey;
}

/** A challenge as the device is shown it. */
export interface PushChallenge {
  sid: string;
  factor_sid: string;
  status: string;
  details: PushDetails & { date?: string };
  expiration_date: string;
  date_created: string;
}

export const SDK_VERSION = 'twofold-cli-1';
export const APP_ID = 'dev.twofold.authenticator.cli';

const form = (o: Record<string, string>) => new URLSearchParams(o).toString();
const FORM = 'application/x-www-form-urlencoded';

/** Hex SHA-256 of the details as shown (the service hashes the same canonical JSON). */
export function pushDetailsHash(d: PushDetails): string {
  return createHash('sha256').update(pushDetailsPayload({ message: d.message ?? null, fields: d.fields ?? [] }), 'utf8').digest('hex');
}

/** The device side of one push factor: signed requests, its challenges, its answers. */
export class PushFactorClient {
  private readonly signer: RequestSigner;

  constructor(readonly state: PushFactorState) {
    this.signer = new RequestSigner(state.private_key, state.factor_sid);
  }

  /** ES256 (IEEE P1363 r‖s, base64url) by the factor key. */
  sign(data: string): string {
    return this.signer.sign(data);
  }

  private get entityPath(): string {
    return `/v2/Services/${this.state.service_sid}/Entities/${encodeURIComponent(this.state.identity)}`;
  }

  /** The signing headers of a request (exposed for tests that replay or tamper with them). */
  signedHeaders(method: string, path: string, body: string | undefined, o: { timestamp?: number; nonce?: string; factorSid?: string } = {}): Record<string, string> {
    return this.signer.headers(method, path, body, { ...o, ...(o.factorSid !== undefined ? { id: o.factorSid } : {}) });
  }

  /** A request signed by the factor key to `path` under the factor's entity (e.g. `/Challenges`), with a form body. */
  async request(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: Record<string, string>, headers?: Record<string, string>): Promise<Response> {
    const url = new URL(`${this.state.url}${this.entityPath}${path}`);
    const text = body === undefined ? undefined : form(body);
    const h = headers ?? this.signedHeaders(method, url.pathname + url.search, text);
    return fetch(url, { method, headers: { ...h, ...(text !== undefined ? { 'content-type': FORM } : {}) }, ...(text !== undefined ? { body: text } : {}) });
  }

  private async ok<T>(res: Response): Promise<T> {
    if (!res.ok) throw await refusalOf(res);
    return (await res.json()) as T;
  }

  /** Prove the key: `AuthPayload` signs the factor's proof string; resolves with the factor's status. */
  async verify(): Promise<string> {
    const s = this.state;
    const proof = this.sign(pushFactorProofString({ serviceSid: s.service_sid, identity: s.identity, factorSid: s.factor_sid }));
    return (await this.ok<{ status: string }>(await this.request('POST', `/Factors/${s.factor_sid}`, { AuthPayload: proof }))).status;
  }

  async pending(): Promise<PushChallenge[]> {
    const q = new URLSearchParams({ FactorSid: this.state.factor_sid, Status: 'pending' });
    return (await this.ok<{ challenges: PushChallenge[] }>(await this.request('GET', `/Challenges?${q.toString()}`))).challenges;
  }

  async challenge(sid: string): Promise<PushChallenge> {
    return this.ok<PushChallenge>(await this.request('GET', `/Challenges/${encodeURIComponent(sid)}`));
  }

  /** The answer's form: `Status` and `AuthPayload` over the challenge, this factor, the decision and the details as shown. */
  answerBody(ch: { sid: string; details: PushDetails }, status: PushDecision): Record<string, string> {
    const detailsHash = pushDetailsHash(ch.details);
    return { Status: status, AuthPayload: this.sign(pushChallengeSigningString({ challengeSid: ch.sid, factorSid: this.state.factor_sid, status, detailsHash })) };
  }

  /** Answer a challenge the device showed; resolves with its new status, throws DeviceApiError on refusal. */
  async answer(ch: { sid: string; details: PushDetails }, status: PushDecision): Promise<string> {
    return (await this.ok<{ status: string }>(await this.request('POST', `/Challenges/${encodeURIComponent(ch.sid)}`, this.answerBody(ch, status)))).status;
  }
}

/**
 * Enrolment's first half: make a key pair here and create the push factor (unverified) with the
 * app's access token (HTTP Basic `token:<access token>`, as the Verify Push SDKs send it). The
 * caller keeps the state, then verifies the factor (`PushFactorClient.verify`).
 */
export async function createPushFactor(o: { url: string; serviceSid: string; identity: string; token: string; name: string }): Promise<PushFactorState> {
  const url = o.url.replace(/\/+$/, '');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  const res = await fetch(`${url}/v2/Services/${encodeURIComponent(o.serviceSid)}/Entities/${encodeURIComponent(o.identity)}/Factors`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`token:${o.token}`).toString('base64')}`, 'content-type': FORM },
    body: form({
      FactorType: 'push',
      FriendlyName: o.name,
      'Binding.Alg': 'ES256',
      'Binding.PublicKey': spki,
      'Config.SdkVersion': SDK_VERSION,
      'Config.AppId': APP_ID,
      'Config.NotificationPlatform': 'none',
    }),
  });
  if (res.status !== 201) throw await refusalOf(res);
  const f = (await res.json()) as { sid: string; friendly_name: string };
  return { url, service_sid: o.serviceSid, identity: o.identity, factor_sid: f.sid, friendly_name: f.friendly_name, private_key: privateKey.export({ format: 'jwk' }) };
}
