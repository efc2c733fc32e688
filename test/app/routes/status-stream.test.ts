import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/platform/clock.js';
import { SseParser } from '../../../src/protocol/sse.js';
import { STATUS_STREAMS_PER_ATTEMPT } from '../../../src/app/routes/index.js';
import { forEachDatabase } from '../../helpers/databases.js';
import { openSse, type SseStream } from '../../helpers/sse.js';
import { startTestSystem, type TestSystem } from '../../helpers/system.js';
import { Browser, newUser, TestDevice, signUp } from '../helpers.js';
import { expectError, passwordStep, userWithDevice } from './fixtures.js';

// The browser's status stream (GET /authy/status, SSE) of a login waiting for a push approval.
// Open streams share one timer for keep-alive comments and expiry; these tests hold it to what
// each stream did with timers of its own.

/** Collect `status` events of a stream until it ends or `ms` pass; returns them and whether it ended. */
async function statuses(base: string, cookie: string, ms: number, onOpen?: () => void): Promise<{ seen: string[]; ended: boolean }> {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), ms);
  const res = await fetch(`${base}/authy/status`, { headers: { accept: 'text/event-stream', cookie }, signal: ctrl.signal });
  const seen: string[] = [];
  let ended = false;
  const parser = new SseParser();
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      for (const m of parser.push(decoder.decode(chunk, { stream: true }))) {
        seen.push((JSON.parse(m.data) as { status: string }).status);
        if (seen.length === 1) onOpen?.();
      }
    }
    ended = true;
  } catch {
    /* aborted: still open */
  } finally {
    clearTimeout(timer);
  }
  return { seen, ended };
}

describe('status stream of a login waiting for a push approval', () => {
  const clock = new ManualClock();
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem({ clock });
  });
  afterAll(async () => {
    await t?.stop();
  });

  async function waitingLogin(): Promise<Browser> {
    const u = newUser();
    const b = new Browser(t.url);
    await signUp(b, u);
    const act = await b.post('/user/authenticators', {});
    await TestDevice.activate(t.url, (act.body.activation as { link: string }).link);
    const login = new Browser(t.url);
    const r = await login.post('/session', { email: u.email, password: u.password });
    expect(r.body.state).toBe('approve');
    return login;
  }

  it('when the approval expires while the browser waits then the stream says expired within about a second and ends', async () => {
    const b = await waitingLogin();
    const started = { at: 0 };
    const result = await statuses(t.url, b.cookie!, 5000, () => {
      started.at = performance.now();
      clock.advance(121_000);
    });
    expect(result.seen).toEqual(['pending', 'expired']);
    expect(result.ended).toBe(true);
    expect(performance.now() - started.at).toBeLessThan(2500);
  });

  it('when several browsers wait on one login and one leaves then the others still hear the expiry', async () => {
    const b = await waitingLogin();
    const leaving = statuses(t.url, b.cookie!, 300);
    const staying = statuses(t.url, b.cookie!, 5000, () => setTimeout(() => clock.advance(121_000), 500));
    expect((await leaving).seen).toEqual(['pending']);
    const r = await staying;
    expect(r.seen).toEqual(['pending', 'expired']);
    expect(r.ended).toBe(true);
  });
});

forEachDatabase((kind) => {
  describe(`GET /authy/status: its answers and refusals on ${kind}`, () => {
    const clock = new ManualClock(Date.now());
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, clock });
    });
    afterAll(async () => {
      await t?.stop();
    });

    it('when there is no login in progress (no session, a forged cookie or a full session) then 401 UNAUTHENTICATED, as JSON and for an event stream', async () => {
      const none = new Browser(t.url);
      expectError(await none.get('/authy/status'), 401, 'UNAUTHENTICATED', { message: 'No login in progress; please log in' });
      expectError(await none.get('/authy/status', { accept: 'text/event-stream' }), 401, 'UNAUTHENTICATED');
      none.cookie = `twofold=${'A'.repeat(43)}`;
      expectError(await none.get('/authy/status'), 401, 'UNAUTHENTICATED');
      const full = new Browser(t.url);
      await signUp(full, newUser());
      expectError(await full.get('/authy/status'), 401, 'UNAUTHENTICATED');
    });

    it('when the login asked for a code instead of an approval then 409 NO_APPROVAL, as JSON and for an event stream', async () => {
      const u = newUser();
      const owner = new Browser(t.url);
      await signUp(owner, u);
      const b = new Browser(t.url);
      const login = await b.post('/session', { email: u.email, password: u.password });
      expect(login.body.state).toBe('code');
      expectError(await b.get('/authy/status'), 409, 'NO_APPROVAL', { message: 'This login uses a code, not an approval' });
      const stream = await b.get('/authy/status', { accept: 'text/event-stream' });
      expectError(stream, 409, 'NO_APPROVAL');
      expect(stream.headers.get('content-type')).toContain('application/json');
    });

    it('when a login waits for an approval then JSON answers its status, number, details and expiry (no-store), and the event stream starts with the same', async () => {
      const { u } = await userWithDevice(t);
      const { b, number, details } = await passwordStep(t, u);
      const r = await b.get('/authy/status');
      expect(r.status).toBe(200);
      expect(r.headers.get('cache-control')).toBe('no-store');
      expect(r.body).toEqual({ status: 'pending', number, details, expires_at: clock.now() + 120_000 });
      const stream = await openSse(`${t.url}/authy/status`, { cookie: b.cookie! });
      expect(stream.status).toBe(200);
      expect(stream.headers.get('content-type')).toBe('text/event-stream');
      expect(stream.headers.get('cache-control')).toBe('no-store');
      const first = await stream.waitFor((e) => e.event === 'status');
      expect(JSON.parse(first.data)).toEqual(r.body);
      stream.close();
    });

    it(`when a ${STATUS_STREAMS_PER_ATTEMPT + 1}th status stream opens for one login then the oldest is closed and the others stay open`, async () => {
      const { u } = await userWithDevice(t);
      const { b } = await passwordStep(t, u);
      const streams: SseStream[] = [];
      for (let i = 0; i <= STATUS_STREAMS_PER_ATTEMPT; i++) {
        const s = await openSse(`${t.url}/authy/status`, { cookie: b.cookie! });
        await s.waitFor((e) => e.event === 'status');
        streams.push(s);
      }
      const endedWithin = (s: SseStream, ms: number) => Promise.race([s.ended.then(() => true), new Promise<boolean>((ok) => setTimeout(() => ok(false), ms))]);
      expect(await endedWithin(streams[0]!, 3000)).toBe(true);
      expect(await Promise.all(streams.slice(1).map((s) => endedWithin(s, 300)))).toEqual(Array.from({ length: STATUS_STREAMS_PER_ATTEMPT }, () => false));
      for (const s of streams) s.close();
    });

    it('when the login attempt is older than 10 minutes then 401 LOGIN_EXPIRED, the session ends and its cookie is cleared', async () => {
      const { u } = await userWithDevice(t);
      const { b } = await passwordStep(t, u);
      const half = b.cookie;
      clock.advance(10 * 60_000 + 1000);
      const r = await b.get('/authy/status');
      expectError(r, 401, 'LOGIN_EXPIRED', { message: 'This login has ended; please log in again' });
      expect(b.cookie).toBeUndefined();
      const again = new Browser(t.url);
      again.cookie = half;
      expectError(await again.get('/authy/status'), 401, 'UNAUTHENTICATED');
    });
  });
});
