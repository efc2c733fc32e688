import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/platform/clock.js';
import { SseParser } from '../../src/protocol/sse.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { Browser, newUser, TestDevice, signUp } from './helpers.js';

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
