import { createPrivateKey, randomBytes, sign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { DEVICE_HEADERS, DeviceApiError, requestSigningString } from '../protocol/device.js';
import { bodyDigest } from '../protocol/node-hash.js';

/**
 * A key this authenticator holds (an OneTouch device's or a Verify push factor's) and the requests
 * it signs: ES256 in IEEE P1363 form (r‖s, base64url), and the four signing headers of
 * docs/device-api.md "Signed requests", with `id` in `X-Twofold-Device`.
 */
export class RequestSigner {
  private readonly key: KeyObject;

  constructor(
    privateKey: JsonWebKey,
    private readonly id: string,
  ) {
    this.key = createPrivateKey({ key: privateKey, format: 'jwk' });
  }

  sign(data: string): string {
    return sign('sha256', Buffer.from(data, 'utf8'), { key: this.key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  }

  /** The signing headers of a request (`o` lets tests replay or tamper with them). */
  headers(method: string, path: string, body: string | undefined, o: { timestamp?: number; nonce?: string; id?: string } = {}): Record<string, string> {
    const timestamp = String(o.timestamp ?? Math.floor(Date.now() / 1000));
    const nonce = o.nonce ?? randomBytes(18).toString('base64url');
    return {
      [DEVICE_HEADERS.device]: o.id ?? this.id,
      [DEVICE_HEADERS.timestamp]: timestamp,
      [DEVICE_HEADERS.nonce]: nonce,
      [DEVICE_HEADERS.signature]: this.sign(requestSigningString({ method, path, bodyDigest: bodyDigest(body), timestamp, nonce })),
    };
  }
}

/** A refusal as an error: the body's `code` (the device API's word, or Twilio's number) and `message`, else the HTTP status. */
export async function refusalOf(res: Response): Promise<DeviceApiError> {
  let code = `HTTP_${res.status}`;
  let message = res.statusText;
  try {
    const b = (await res.json()) as { code?: unknown; message?: unknown };
    if (b.code !== undefined && b.code !== null) code = String(b.code);
    if (typeof b.message === 'string') message = b.message;
  } catch {
    /* not JSON */
  }
  return new DeviceApiError(res.status, code, message);
}
