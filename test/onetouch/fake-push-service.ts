import { execFileSync } from 'node:child_process';
import { createDecipheriv, createECDH, createPublicKey, hkdfSync, randomBytes, verify, type ECDH } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A local stand-in for a Web Push service (RFC 8030) on 127.0.0.1.
 *
 * `web-push` always sends with `https.request`, so the fake speaks TLS with a self-signed
 * certificate that `openssl` makes for 127.0.0.1; `trustInThisProcess()` adds it to
 * `https.globalAgent`'s CAs (the agent web-push uses when given none), for this test process only.
 * No production code knows about it.
 */
export interface PushRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  at: number;
}

export class FakePushService {
  readonly received: PushRequest[] = [];
  /** Status answered per path (default 201, what push services answer). `'hang'` never answers. */
  readonly statusFor = new Map<string, number | 'hang'>();
  private server: https.Server | undefined;
  private cert = '';
  private savedCa: unknown;
  port = 0;

  async start(): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'twofold-push-'));
    try {
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
        { stdio: 'ignore' },
      );
      this.cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
      const key = readFileSync(join(dir, 'key.pem'), 'utf8');
      this.server = https.createServer({ cert: this.cert, key }, (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const path = req.url ?? '';
          this.received.push({ path, headers: req.headers, body: Buffer.concat(chunks), at: Date.now() });
          const status = this.statusFor.get(path) ?? 201;
          if (status === 'hang') return;
          res.statusCode = status;
          res.end();
        });
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server!.address() as AddressInfo).port;
  }

  get origin(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Trust the fake's certificate for outgoing https requests of this process. */
  trustInThisProcess(): void {
    const options = https.globalAgent.options as { ca?: unknown };
    this.savedCa = options.ca;
    options.ca = this.cert;
  }

  to(path: string): PushRequest[] {
    return this.received.filter((r) => r.path === path);
  }

  async stop(): Promise<void> {
    (https.globalAgent.options as { ca?: unknown }).ca = this.savedCa;
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/** A browser's side of a subscription: its P-256 key pair and auth secret (RFC 8291 §3). */
export class FakeSubscriber {
  readonly ecdh: ECDH = createECDH('prime256v1');
  readonly auth = randomBytes(16);
  readonly path = `/push/${randomBytes(12).toString('base64url')}`;

  constructor(readonly service: FakePushService) {
    this.ecdh.generateKeys();
  }

  /** What `PushSubscription.toJSON()` gives the PWA. */
  json(): { endpoint: string; expirationTime: null; keys: { p256dh: string; auth: string } } {
    return {
      endpoint: `${this.service.origin}${this.path}`,
      expirationTime: null,
      keys: { p256dh: this.ecdh.getPublicKey().toString('base64url'), auth: this.auth.toString('base64url') },
    };
  }

  /** Decrypt an `aes128gcm` message body (RFC 8188 framing, RFC 8291 keys); single record. */
  decrypt(body: Buffer): string {
    const salt = body.subarray(0, 16);
    const idlen = body[20]!;
    const senderPublic = body.subarray(21, 21 + idlen);
    const ciphertext = body.subarray(21 + idlen);
    const ecdhSecret = this.ecdh.computeSecret(senderPublic);
    const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0', 'ascii'), this.ecdh.getPublicKey(), senderPublic]);
    const ikm = Buffer.from(hkdfSync('sha256', ecdhSecret, this.auth, keyInfo, 32));
    const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0', 'ascii'), 16));
    const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0', 'ascii'), 12));
    const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
    decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
    const padded = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
    // The last record ends with the delimiter 0x02 followed by zero padding (RFC 8188 §2).
    let end = padded.length - 1;
    while (end >= 0 && padded[end] === 0) end--;
    if (padded[end] !== 2) throw new Error('missing last-record delimiter');
    return padded.subarray(0, end).toString('utf8');
  }
}

export interface VapidClaims {
  aud: string;
  exp: number;
  sub: string;
}

/**
 * Check an RFC 8292 `Authorization: vapid t=<JWT>, k=<key>` header: the key is `publicKey`, and
 * the JWT is ES256-signed by it. Returns the claims; throws on any mismatch.
 */
export function verifyVapid(header: string | undefined, publicKey: string): VapidClaims {
  const m = /^vapid t=([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+), k=([A-Za-z0-9_-]+)$/.exec(header ?? '');
  if (!m) throw new Error(`not a VAPID authorization: ${header}`);
  const [jwt, k] = [m[1]!, m[2]!];
  if (k !== publicKey) throw new Error('k is not the server key');
  const [h, p, s] = jwt.split('.') as [string, string, string];
  const headerJson = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg: string; typ?: string };
  if (headerJson.alg !== 'ES256') throw new Error(`alg ${headerJson.alg}`);
  const point = Buffer.from(k, 'base64url');
  const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') }, format: 'jwk' });
  if (!verify('sha256', Buffer.from(`${h}.${p}`, 'ascii'), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'))) throw new Error('bad JWT signature');
  return JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as VapidClaims;
}
