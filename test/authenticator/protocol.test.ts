import { webcrypto } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseActivationLink } from '../../src/authenticator/client.js';
import { approvalSigningString, canonicalJson, requestSigningString } from '../../src/protocol/device.js';
import { bodyDigest, detailsHash } from '../../src/protocol/node-hash.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { activationLink, createApp, createApproval, registerUser } from '../onetouch/helpers.js';
import { SseParser } from '../../src/protocol/sse.js';
import { APPROVAL_SIGNING_VECTORS, CANONICAL_VECTORS, DETAILS_HASH_VECTORS, REQUEST_SIGNING_VECTORS, SSE_VECTORS } from '../vectors/device-protocol.js';

const PWA_PROTOCOL = new URL('../../web/authenticator/protocol.ts', import.meta.url).href;

describe('canonical JSON known answers', () => {
  it.each(CANONICAL_VECTORS.map(([v, out], i) => [i, v, out] as const))('when vector %i is canonicalised by the service and by the PWA then both give the known answer', async (_i, v, out) => {
    // The PWA's own module (browser code: loaded by name so that the Node typecheck leaves it to
    // web/tsconfig.json).
    const pwa = (await import(PWA_PROTOCOL)) as { canonicalJson(v: unknown): string };
    expect(canonicalJson(v)).toBe(out);
    expect(pwa.canonicalJson(v)).toBe(out);
  });
});

describe('device protocol known answers', () => {
  it.each(DETAILS_HASH_VECTORS.map((v, i) => [i, ...v] as const))('when details vector %i is hashed in Node and by the PWA (WebCrypto) then both give the known answer', async (_i, message, details, hash) => {
    const pwa = (await import(PWA_PROTOCOL)) as { detailsHash(m: string, d: Record<string, string>): Promise<string> };
    expect(detailsHash(message, details)).toBe(hash);
    expect(await pwa.detailsHash(message, details)).toBe(hash);
  });

  it('when signing strings are built then they are the known answers byte for byte', () => {
    for (const [o, out] of REQUEST_SIGNING_VECTORS) expect(requestSigningString(o)).toBe(out);
    for (const [o, out] of APPROVAL_SIGNING_VECTORS) expect(approvalSigningString(o)).toBe(out);
  });

  it.each(SSE_VECTORS.map((v, i) => [i, v] as const))('when event stream vector %i arrives in its chunks, whole, or a character at a time then the parser gives the known events', (_i, v) => {
    const splits = [v.chunks, [v.chunks.join('')], Array.from(v.chunks.join(''))];
    for (const chunks of splits) {
      const p = new SseParser();
      expect(chunks.flatMap((c) => p.push(c))).toEqual(v.events);
      expect(p.lastEventId).toBe(v.lastEventId);
    }
  });
});

describe('device protocol strings', () => {
  it('when keys differ in case, length and plane then canonical JSON sorts them by code point', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: null, y: 'x' }], c: 'é' }, B: true })).toBe('{"B":true,"a":{"c":"é","d":[2,{"y":"x","z":null}]},"b":1}');
    // U+FF5E sorts before U+1F600 by code point, after it by UTF-16 unit.
    expect(canonicalJson({ '😀': 1, '～': 2 })).toBe('{"～":2,"😀":1}');
  });

  it('when hashing details then it is SHA-256 of the canonical JSON of message and details', () => {
    expect(detailsHash('Login', { b: '2', a: '1' })).toBe(bodyDigest('{"details":{"a":"1","b":"2"},"message":"Login"}'));
    expect(detailsHash('Login', {})).toMatch(/^[0-9a-f]{64}$/);
  });

  it('when building signing strings then they follow docs/device-api.md byte for byte', () => {
    expect(requestSigningString({ method: 'get', path: '/v1/devices/x?a=1', bodyDigest: '', timestamp: '1700000000', nonce: 'n'.repeat(16) })).toBe(
      `twofold-device-v1\nGET\n/v1/devices/x?a=1\n\n1700000000\n${'n'.repeat(16)}`,
    );
    expect(approvalSigningString({ uuid: 'u', decision: 'approve', number: null, detailsHash: 'h' })).toBe('twofold-approval-v1\nu\napprove\n\nh');
    expect(bodyDigest(undefined)).toBe('');
    expect(bodyDigest('')).toBe('');
  });

  it('when parsing activation links then the service URL keeps a path prefix and bad links are refused', () => {
    expect(parseActivationLink('https://2fa.example.com/authenticator/#activate=abc_-1')).toEqual({ serviceUrl: 'https://2fa.example.com', token: 'abc_-1' });
    expect(parseActivationLink('https://example.com/twofold/authenticator/#activate=t')).toEqual({ serviceUrl: 'https://example.com/twofold', token: 't' });
    expect(() => parseActivationLink('https://example.com/authenticator/')).toThrow();
    expect(() => parseActivationLink('not a url#activate=x')).toThrow();
  });
});

/** The PWA signs with WebCrypto (non-extractable key, P1363 signatures): the service must accept it. */
describe('a WebCrypto authenticator', () => {
  let ts: TestSystem;
  let app: { id: number; apiKey: string };
  beforeAll(async () => {
    ts = await startTestSystem();
    app = await createApp(ts, null, 'WebCrypto');
  });
  afterAll(async () => {
    await ts.stop();
  });

  it('when a WebCrypto key activates, signs requests and approves then the service accepts every step', async () => {
    const subtle = webcrypto.subtle;
    const keys = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
    const jwk = await subtle.exportKey('jwk', keys.publicKey);
    const userId = await registerUser(ts.url, app.apiKey);
    const { token } = parseActivationLink(await activationLink(ts.url, app.apiKey, userId));
    const act = await fetch(`${ts.url}/v1/devices/activate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, name: 'browser', public_key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } }),
    });
    expect(act.status).toBe(201);
    const deviceId = ((await act.json()) as { device: { id: string } }).device.id;
    const sign = async (s: string) =>
      Buffer.from(await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, keys.privateKey, new TextEncoder().encode(s))).toString('base64url');
    const signed = async (method: string, path: string, body?: string) => {
      const timestamp = String(Math.floor(Date.now() / 1000));
      const nonce = Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('base64url');
      return fetch(`${ts.url}${path}`, {
        method,
        headers: {
          'x-twofold-device': deviceId,
          'x-twofold-timestamp': timestamp,
          'x-twofold-nonce': nonce,
          'x-twofold-signature': await sign(requestSigningString({ method, path, bodyDigest: bodyDigest(body), timestamp, nonce })),
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body } : {}),
      });
    };
    const c = await createApproval(ts.url, app.apiKey, userId, { number_matching: true });
    const uuid = c.body['approval_request'].uuid as string;
    const list = await signed('GET', `/v1/devices/${deviceId}/approval_requests`);
    expect(list.status).toBe(200);
    const shown = ((await list.json()) as { approval_requests: { uuid: string; message: string; details: Record<string, string> }[] }).approval_requests[0]!;
    const hash = detailsHash(shown.message, shown.details);
    const number = c.body['number'] as string;
    const body = JSON.stringify({ decision: 'approve', number, details_hash: hash, signature: await sign(approvalSigningString({ uuid, decision: 'approve', number, detailsHash: hash })) });
    const r = await signed('POST', `/v1/devices/${deviceId}/approval_requests/${uuid}/response`, body);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ approval_request: { uuid, status: 'approved' } });
  });
});
