import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/platform/clock.js';
import { openSse } from '../../helpers/sse.js';
import { startTestSystem, type TestSystem } from '../../helpers/system.js';
import { Browser } from '../helpers.js';
import { passwordStep, userWithDevice } from './fixtures.js';

// A browser's status stream (GET /authy/status as an event stream) is answered before Express
// (WebApp.tryServeStatusStream); it must answer exactly as the Express route does: the same
// headers as the JSON answer's security headers, and the same refusals.

const SECURITY_HEADERS = ['x-content-type-options', 'referrer-policy', 'strict-transport-security', 'cache-control', 'x-powered-by'];
const pick = (h: Headers) => Object.fromEntries(SECURITY_HEADERS.map((n) => [n, h.get(n)]));
const EVENTS = { accept: 'text/event-stream' };

describe('status stream answered before Express', () => {
  const clock = new ManualClock(Date.now());
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem({ clock });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("when a login waits for an approval then the event stream carries the JSON answer's security headers (nosniff, no-referrer, no-store) and no cookie", async () => {
    const { u } = await userWithDevice(t);
    const { b } = await passwordStep(t, u);
    const json = await b.get('/authy/status');
    expect(json.status).toBe(200);
    const stream = await openSse(`${t.url}/authy/status`, { cookie: b.cookie! });
    try {
      expect(stream.status).toBe(200);
      expect(pick(stream.headers)).toEqual(pick(json.headers));
      expect(pick(stream.headers)).toMatchObject({ 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-store', 'x-powered-by': null });
      expect(stream.headers.get('content-type')).toBe('text/event-stream');
      expect(stream.headers.get('x-accel-buffering')).toBe('no');
      expect(stream.headers.get('set-cookie')).toBeNull();
      await stream.waitFor((e) => e.event === 'status');
    } finally {
      stream.close();
    }
  });

  it('when an event stream is asked for without a login in progress then the same 401 as the JSON answer, with the same headers', async () => {
    const none = new Browser(t.url);
    for (const cookie of [undefined, `twofold=${'A'.repeat(43)}`]) {
      none.cookie = cookie;
      const json = await none.get('/authy/status');
      const stream = await none.get('/authy/status', EVENTS);
      expect({ status: stream.status, body: stream.body }).toEqual({ status: 401, body: { code: 'UNAUTHENTICATED', message: 'No login in progress; please log in' } });
      expect({ status: stream.status, body: stream.body }).toEqual({ status: json.status, body: json.body });
      expect(stream.headers.get('content-type')).toBe(json.headers.get('content-type'));
      expect(pick(stream.headers)).toEqual(pick(json.headers));
    }
  });

  it('when the login ended while its browser waited then the event stream is refused 401 LOGIN_EXPIRED and the session cookie cleared, as by the route', async () => {
    const { u } = await userWithDevice(t);
    const { b } = await passwordStep(t, u);
    clock.advance(10 * 60_000 + 1000);
    const cookie = b.cookie;
    const r = await b.get('/authy/status', EVENTS);
    expect({ status: r.status, body: r.body }).toEqual({ status: 401, body: { code: 'LOGIN_EXPIRED', message: 'This login has ended; please log in again' } });
    expect(r.headers.getSetCookie().some((c) => c.startsWith('twofold=;'))).toBe(true);
    expect(b.cookie).toBeUndefined();
    // The session is gone: the same cookie is now no login at all.
    const again = await new Browser(t.url).get('/authy/status', { ...EVENTS, cookie: cookie! });
    expect({ status: again.status, code: again.body.code }).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
  });

  it('when a stream ends then the access log has its line: route pattern, 200, duration', async () => {
    const { u } = await userWithDevice(t);
    const { b } = await passwordStep(t, u);
    const before = t.logs.length;
    const stream = await openSse(`${t.url}/authy/status`, { cookie: b.cookie! });
    await stream.waitFor((e) => e.event === 'status');
    clock.advance(121_000);
    await stream.waitFor((e) => e.event === 'status' && (JSON.parse(e.data) as { status: string }).status === 'expired', 5000);
    await stream.ended;
    await new Promise((r) => setTimeout(r, 50));
    const lines = t.logs.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'http' && l.route === 'GET /authy/status');
    expect(lines).toEqual([expect.objectContaining({ route: 'GET /authy/status', status: 200, ms: expect.any(Number) })]);
  });
});
