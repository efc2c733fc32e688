// Threat: an anonymous client holds the event loop (and memory) with a small JSON body that is
// costly to walk — deep nesting or a great many tiny values — sent to the OneTouch callback (which
// flattens the body to check its signature) or to any other route that parses JSON. Cheap checks
// come first, every JSON body has a depth and value budget, and such a body is refused with a 4xx
// at once, never a 5xx.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonWithinBudget, JSON_MAX_DEPTH, JSON_MAX_ITEMS } from '../../src/platform/http.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

const nested = (levels: number) => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
const deepArrays = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);
/** About 25 KB of objects nested 40 deep, repeated side by side: the shape that took seconds. */
const wide = () => JSON.stringify({ uuid: 'x', status: 'approved', approval_request: Array.from({ length: 120 }, () => JSON.parse(nested(40)) as unknown) });
/** One long key (of the costliest character to encode) over many values, within the depth and value budgets: it flattens to megabytes. */
const longKey = (keyChars: number) => JSON.stringify({ ['!'.repeat(keyChars)]: Array.from({ length: 990 }, () => 1) });
const many = () => JSON.stringify({ status: 'approved', list: Array.from({ length: 5000 }, (_, i) => i) });

describe('JSON budget (one pass over the raw bytes)', () => {
  it.each([
    ['a plain object', '{"a":[1,2,{"b":"c"}],"d":"x"}', true],
    [`${JSON_MAX_DEPTH} levels`, nested(JSON_MAX_DEPTH - 1), true],
    [`${JSON_MAX_DEPTH + 1} levels`, nested(JSON_MAX_DEPTH + 1), false],
    ['30,000 levels of arrays', deepArrays(30_000), false],
    [`more than ${JSON_MAX_ITEMS} values`, many(), false],
    ['brackets, commas and escaped quotes inside strings', JSON.stringify({ s: '[[[[{{{{,,,,::::\\"'.repeat(500) }), true],
  ])('when the body is %s then within budget is %s', (_what, body, ok) => {
    expect(jsonWithinBudget(Buffer.from(body))).toBe(ok);
  });
});

describe('bodies costly to walk, sent anonymously', () => {
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem({});
  });
  afterAll(() => t?.stop());

  const post = async (path: string, body: string, headers: Record<string, string> = {}) => {
    const t0 = performance.now();
    const r = await fetch(`${t.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', origin: t.url, ...headers }, body });
    const text = await r.text();
    return { status: r.status, text, ms: performance.now() - t0 };
  };
  const freshNonce = () => ({ 'x-authy-signature-nonce': String(Math.floor(Date.now() / 1000)), 'x-authy-signature': 'c2lnbmF0dXJl' });

  it.each([
    ['25 KB of nested objects', wide],
    ['30,000 levels of nesting', () => deepArrays(30_000)],
    ['5,000 values', many],
    ['a 60 KB key over 990 values (within the budgets, megabytes once flattened)', () => longKey(60_000)],
    ['a 25 KB key over 990 values', () => longKey(25_000)],
  ])('when the callback gets %s with a fresh nonce then 4xx at once, and the process keeps answering', async (_what, body) => {
    const health = fetch(`${t.url}/healthz`);
    const r = await post('/authy/callback', body(), freshNonce());
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    expect((await health).status).toBe(200);
    console.log(`callback refused a costly body in ${r.ms.toFixed(1)} ms (${r.status})`);
    // Generous bound: before the budget this took seconds; the target is well under 50 ms.
    expect(r.ms).toBeLessThan(1000);
  });

  it('when the callback headers are missing or stale then it is refused before the body is read', async () => {
    const big = wide();
    expect((await post('/authy/callback', big)).status).toBe(401);
    expect((await post('/authy/callback', big, { 'x-authy-signature-nonce': '1000', 'x-authy-signature': 'c2ln' })).status).toBe(401);
    expect((await post('/authy/callback', big, { ...freshNonce(), 'x-authy-signature': 'not base64 !' })).status).toBe(401);
  });

  it.each([
    ['the web app (signup)', '/user'],
    ['the web app (login)', '/session'],
    ['the Authy API', '/protected/json/users/new'],
    ['the device API (activation)', '/v1/devices/activate'],
  ])('when %s gets a body nested 5,000 deep (10 KB, under the size limit) then 400, never 500', async (_what, path) => {
    const r = await post(path, deepArrays(5000), { 'x-authy-api-key': t.apiKey });
    expect(r.status).toBe(400);
    expect(r.text).toMatch(/nested deeper|BODY_TOO_COMPLEX/);
  });
});
