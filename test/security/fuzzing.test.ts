// Threat: a malformed request (wrong types, huge or odd strings, nested bracket keys) crashes the
// process or leaks an internal error, turning any client into a denial-of-service or info leak.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../helpers/databases.js';
import { startLocalhostSystem } from '../helpers/passkeys.js';
import type { TestSystem } from '../helpers/system.js';
import { Browser, newUser } from '../app/helpers.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 1000);

interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** `:x` segments are replaced by generated path segments. */
  path: string;
  /** Authy-style API key auth (header) on the half of the inputs that carry credentials. */
  apiKey?: boolean;
  /** Needs the app's JSON + same-origin headers to get past CSRF into the handler. */
  appJson?: boolean;
}

const ROUTES: Route[] = [
  // The Authy-compatible API (docs/authy-compat.md)
  { method: 'POST', path: '/protected/json/users/new', apiKey: true },
  { method: 'POST', path: '/protected/json/users/:id/remove', apiKey: true },
  { method: 'POST', path: '/protected/json/users/delete/:id', apiKey: true },
  { method: 'GET', path: '/protected/json/users/:id/status', apiKey: true },
  { method: 'GET', path: '/protected/json/sms/:id', apiKey: true },
  { method: 'GET', path: '/protected/json/call/:id', apiKey: true },
  { method: 'GET', path: '/protected/json/verify/:token/:id', apiKey: true },
  { method: 'POST', path: '/protected/json/users/:id/secret', apiKey: true },
  { method: 'POST', path: '/protected/json/phones/verification/start', apiKey: true },
  { method: 'GET', path: '/protected/json/phones/verification/check', apiKey: true },
  { method: 'GET', path: '/protected/json/app/details', apiKey: true },
  { method: 'POST', path: '/onetouch/json/users/:id/approval_requests', apiKey: true },
  { method: 'GET', path: '/onetouch/json/approval_requests/:id', apiKey: true },
  // The device API (docs/device-api.md)
  { method: 'POST', path: '/v1/users/:id/activations', apiKey: true },
  { method: 'GET', path: '/v1/users/:id/devices', apiKey: true },
  { method: 'DELETE', path: '/v1/users/:id/devices/:device', apiKey: true },
  { method: 'POST', path: '/v1/devices/activate' },
  { method: 'GET', path: '/v1/devices/:id' },
  { method: 'GET', path: '/v1/devices/:id/approval_requests' },
  { method: 'POST', path: '/v1/devices/:id/approval_requests/:uuid/response' },
  { method: 'GET', path: '/v1/push/vapid-public-key' },
  { method: 'PUT', path: '/v1/devices/:id/push-subscription' },
  { method: 'DELETE', path: '/v1/devices/:id/push-subscription' },
  // The web app (src/app/README.md)
  { method: 'POST', path: '/user', appJson: true },
  { method: 'GET', path: '/user' },
  { method: 'POST', path: '/session', appJson: true },
  { method: 'GET', path: '/authy/status' },
  { method: 'POST', path: '/authy/callback' },
  { method: 'POST', path: '/session/verify', appJson: true },
  { method: 'POST', path: '/session/resend', appJson: true },
  { method: 'POST', path: '/session/recover', appJson: true },
  { method: 'DELETE', path: '/session', appJson: true },
  { method: 'POST', path: '/user/authenticators', appJson: true },
  { method: 'POST', path: '/user/totp-app', appJson: true },
  { method: 'POST', path: '/user/totp-app/confirm', appJson: true },
  { method: 'POST', path: '/user/recovery-codes', appJson: true },
  { method: 'POST', path: '/user/passkeys/options', appJson: true },
  { method: 'POST', path: '/user/passkeys', appJson: true },
  { method: 'PATCH', path: '/user/passkeys/:id', appJson: true },
  { method: 'DELETE', path: '/user/passkeys/:id', appJson: true },
  { method: 'POST', path: '/session/passkey-signin/options', appJson: true },
  { method: 'POST', path: '/session/passkey-signin', appJson: true },
  { method: 'POST', path: '/session/passkey/options', appJson: true },
  { method: 'POST', path: '/session/passkey', appJson: true },
  { method: 'POST', path: '/session/reauth/passkey/options', appJson: true },
  { method: 'POST', path: '/session/reauth/passkey', appJson: true },
  { method: 'GET', path: '/dev/sms.json' },
];

const nastyString = fc.oneof(
  fc.integer({ min: 0, max: 5 }).map(String),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', '0', '-1', '1e309', 'NaN', 'null', 'true', '[]', '{}', '__proto__', 'constructor', '../../etc/passwd', '%00', '\u0000', '\uFEFF', '🙂'.repeat(50), '9'.repeat(40), 'a'.repeat(70_000)),
);

const bracketKey = fc
  .tuple(fc.constantFrom('user', 'details', 'logos', 'hidden_details', 'a', '__proto__'), fc.array(fc.oneof(fc.string({ maxLength: 6 }), fc.constant('')), { maxLength: 12 }))
  .map(([k, parts]) => k + parts.map((p) => `[${p}]`).join(''));

const jsonValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    nastyString,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.string({ maxLength: 10 }), bracketKey), tie('value'), { maxKeys: 5 }),
  ),
})).value;

const KNOWN_FIELDS = ['user', 'email', 'cellphone', 'country_code', 'message', 'details', 'seconds_to_expire', 'number_matching', 'token', 'name', 'public_key', 'decision', 'number', 'details_hash', 'signature', 'code', 'password', 'fullName', 'countryCode', 'phone', 'via', 'phone_number', 'verification_code', 'force', 'label', 'qr_size', 'logos', 'hidden_details', 'uuid', 'status', 'authy_id', 'response', 'remember', 'return_to'];

const body = fc.oneof(
  fc.dictionary(fc.constantFrom(...KNOWN_FIELDS), jsonValue, { maxKeys: 8 }),
  fc.dictionary(bracketKey, nastyString, { maxKeys: 6 }),
  jsonValue,
);

const input = fc.record({
  segments: fc.array(nastyString, { minLength: 3, maxLength: 3 }),
  body,
  query: fc.dictionary(fc.oneof(fc.constantFrom(...KNOWN_FIELDS), bracketKey), nastyString, { maxKeys: 4 }),
  encoding: fc.constantFrom('json', 'form', 'raw', 'none'),
  credentials: fc.boolean(),
});

function toForm(v: unknown, prefix = '', out: URLSearchParams = new URLSearchParams()): URLSearchParams {
  if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) toForm(x, prefix ? `${prefix}[${k}]` : k, out);
  } else out.append(prefix || 'value', String(v));
  return out;
}

forEachDatabase((kind) => {
  describe(`fuzzing every route on ${kind}`, () => {
    let t: TestSystem;
    /** A signed-up, fully logged-in user's cookie: half the inputs reach past authentication. */
    let cookie: string;
    beforeAll(async () => {
      // At localhost, so that the passkey routes run their whole validation (an IP address has no passkeys).
      t = await startLocalhostSystem({ db: kind, env: { LOG_LEVEL: 'warn' } });
      const browser = new Browser(t.url);
      const signup = await browser.post('/user', newUser());
      expect(signup.status).toBeLessThan(300);
      cookie = browser.cookie!;
    });
    afterAll(() => t.stop());

    it.each(ROUTES.map((r) => [`${r.method} ${r.path}`, r] as const))(
      'when %s gets generated garbage then never a 5xx and the server stays up',
      async (_name, route) => {
        const statuses = new Map<number, number>();
        // Generated up front and sent in concurrent batches: the same ≥ RUNS inputs, a fraction
        // of the wall time. A failure reports the exact input that caused it.
        const samples = fc.sample(input, { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31) });
        const send = async ({ segments, body: b, query, encoding, credentials }: (typeof samples)[number]) => {
            let i = 0;
            const path = route.path.replace(/:[a-z]+/g, () => encodeURIComponent(segments[i++ % 3] ?? 'x').slice(0, 2000));
            const qs = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, v.slice(0, 2000)])).toString();
            const headers: Record<string, string> = {};
            if (credentials && route.apiKey) headers['X-Authy-API-Key'] = t.apiKey;
            if (route.appJson || credentials) headers['Origin'] = t.url;
            if (credentials) headers['Cookie'] = cookie;
            let payload: string | undefined;
            if (route.method !== 'GET' && encoding !== 'none') {
              if (encoding === 'json') {
                headers['Content-Type'] = 'application/json';
                payload = JSON.stringify(b) ?? 'null';
              } else if (encoding === 'form') {
                headers['Content-Type'] = 'application/x-www-form-urlencoded';
                payload = toForm(b).toString();
              } else {
                headers['Content-Type'] = 'text/plain';
                payload = String(typeof b === 'string' ? b : JSON.stringify(b));
              }
            }
            const res = await fetch(`${t.url}${path}${qs ? `?${qs}` : ''}`, {
              method: route.method,
              headers,
              ...(payload !== undefined ? { body: payload } : {}),
              signal: AbortSignal.timeout(20_000),
            });
            // SSE routes would stream forever: read only the status.
            if ((res.headers.get('content-type') ?? '').includes('event-stream')) await res.body?.cancel();
            else await res.arrayBuffer();
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
            if (res.status >= 500) {
              throw new Error(`${route.method} ${path} answered ${res.status} for ${JSON.stringify({ query, encoding, body: b }).slice(0, 2000)}`);
            }
        };
        for (let i = 0; i < samples.length; i += 25) await Promise.all(samples.slice(i, i + 25).map(send));
        const health = await fetch(`${t.url}/healthz`);
        expect(health.status).toBe(200);
        // Every input was answered (the property ran RUNS times without a 5xx).
        expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(RUNS);
      },
      120_000,
    );
  });
});
