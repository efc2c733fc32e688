import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { authy, oathtool, registerUser, secretFromUri, type AuthyAnswer } from './helpers.js';

// The Authy API's GETs are answered before Express (src/verify/api-fast-path.ts). Whatever a client
// sends, the answer must be the one Express gives: the same server with Express alone (no early
// handler) is the reference, and a counter on Express tells which requests the fast path took.

const HEADERS = ['content-type', 'x-content-type-options', 'referrer-policy', 'strict-transport-security', 'cache-control', 'etag', 'retry-after'];

/** One request over node:http (fetch refuses a GET with a body). */
function raw(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<AuthyAnswer & { headers: Record<string, string | null> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let parsed: Record<string, unknown> = {};
        try {
          parsed = JSON.parse(text) as Record<string, unknown>;
        } catch {
          // HEAD and non-JSON answers: compared by status and headers
        }
        const h = (n: string) => (res.headers[n] === undefined ? null : String(res.headers[n]));
        resolve({ status: res.statusCode ?? 0, body: parsed, text, headers: Object.fromEntries(HEADERS.map((n) => [n, h(n)])) });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

forEachDatabase((kind) => {
  describe(`Authy API GETs before Express on ${kind}`, () => {
    let t: TestSystem;
    let expressOnly: Server;
    let reference: string;
    let expressEntries = 0;
    let id: number;
    let secret: string;

    beforeAll(async () => {
      t = await startTestSystem({ db: kind, env: { TRUST_PROXY: '1' } });
      const app = t.system.app;
      // Express's app function hands every request to `app.handle`: counting its calls counts the requests Express saw.
      const internals = app as unknown as { handle: (...a: unknown[]) => void };
      const handle = internals.handle.bind(app);
      internals.handle = (...a: unknown[]) => {
        expressEntries++;
        handle(...a);
      };
      expressOnly = createServer(app);
      await new Promise<void>((resolve) => expressOnly.listen(0, '127.0.0.1', resolve));
      reference = `http://127.0.0.1:${(expressOnly.address() as AddressInfo).port}`;
      id = await registerUser(t.url, t.apiKey);
      const s = await authy(t.url, t.apiKey, 'POST', `/protected/json/users/${id}/secret`, { label: 'fast path' });
      secret = secretFromUri(String(s.body['uri']));
    });
    afterAll(async () => {
      await new Promise((resolve) => expressOnly?.close(resolve));
      await t?.stop();
    });

    /** The answer of the whole server and of Express alone, and whether Express saw the first. */
    async function both(method: string, path: string, headers: Record<string, string> = {}, body?: string) {
      const before = expressEntries;
      const fast = await raw(t.url, method, path, headers, body);
      const tookExpress = expressEntries > before;
      const ref = await raw(reference, method, path, headers, body);
      return { fast, ref, tookExpress };
    }

    const key = () => ({ 'x-authy-api-key': t.apiKey });

    it('when refused requests arrive (no key, a wrong key, a key in the query, an unknown user, a malformed or wrong token) then the answers equal Express\'s, and Express never saw them', async () => {
      const cases: [string, Record<string, string>][] = [
        [`/protected/json/verify/123456/${id}`, {}],
        [`/protected/json/verify/123456/${id}`, { 'x-authy-api-key': 'not-a-key' }],
        [`/protected/json/verify/123456/${id}`, { 'x-authy-api-key': 'k'.repeat(500) }],
        [`/protected/json/verify/12/${id}?api_key=${encodeURIComponent(t.apiKey)}`, {}],
        [`/protected/json/verify/123456/999999`, key()],
        [`/protected/json/verify/12ab56/${id}`, key()],
        [`/protected/json/users/abc/status`, key()],
        [`/protected/json/users/${id}/status?pending=false&force=a+b%20c`, key()],
      ];
      for (const [path, headers] of cases) {
        const { fast, ref, tookExpress } = await both('GET', path, headers);
        expect({ path, status: fast.status, body: fast.body, headers: fast.headers }).toEqual({ path, status: ref.status, body: ref.body, headers: ref.headers });
        expect({ path, tookExpress }).toEqual({ path, tookExpress: false });
      }
      expect(expressEntries).toBeGreaterThan(0); // the reference server did go through Express
    });

    it('when a valid code is verified then it answers as Express does, and its replay is refused as reused by either', async () => {
      const code = oathtool(secret);
      const before = expressEntries;
      const ok = await raw(t.url, 'GET', `/protected/json/verify/${code}/${id}`, key());
      expect(expressEntries).toBe(before);
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ message: 'Token is valid.', token: 'is valid', success: 'true', device: { kind: 'totp' } });
      expect(ok.headers).toMatchObject({ 'content-type': 'application/json; charset=utf-8', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', etag: null });
      const { fast, ref } = await both('GET', `/protected/json/verify/${code}/${id}`, key());
      expect(fast.status).toBe(401);
      expect(fast.body).toMatchObject({ error_code: '60019', message: 'Token is invalid. Token was used recently.' });
      expect({ status: fast.status, body: fast.body }).toEqual({ status: ref.status, body: ref.body });
    });

    it('when a request could read differently (bracket or repeated names, a body, HEAD, a trailing slash, another case, a bad escape) then Express answers it', async () => {
      const cases: [string, string, Record<string, string>, string?][] = [
        ['GET', `/protected/json/users/${id}/status?details[a]=1`, key()],
        ['GET', `/protected/json/users/${id}/status?a=1&a=2`, key()],
        ['GET', `/protected/json/users/${id}/status?a=%ZZ`, key()],
        ['GET', `/protected/json/users/${id}/status/`, key()],
        ['GET', `/PROTECTED/json/users/${id}/status`, key()],
        ['GET', `/protected/json/users/%E0%A4%A/status`, key()],
        ['HEAD', `/protected/json/users/${id}/status`, key()],
        ['GET', `/protected/json/users/${id}/status`, { ...key(), 'content-type': 'application/json' }, '{"pending":"false"}'],
        ['POST', `/protected/json/users/${id}/status`, key()],
      ];
      for (const [method, path, headers, body] of cases) {
        const { fast, ref, tookExpress } = await both(method, path, headers, body);
        expect({ path, method, tookExpress }).toEqual({ path, method, tookExpress: true });
        expect({ path, status: fast.status, body: fast.body }).toEqual({ path, status: ref.status, body: ref.body });
      }
    });

    it('when TRUST_PROXY is 1 then the audit records the forwarded address, as Express would', async () => {
      await raw(t.url, 'GET', `/protected/json/verify/000000/${id}`, { ...key(), 'x-forwarded-for': '198.51.100.7, 203.0.113.9' });
      const [last] = await t.system.platform.audit.forUser(`authy:${id}`, 1);
      expect(last?.ip).toBe('203.0.113.9');
    });
  });
});
