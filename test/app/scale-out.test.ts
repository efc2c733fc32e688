import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshSchema, pgAvailable } from '../helpers/databases.js';
import { openSse, statusEvent } from '../helpers/sse.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { Browser, eventually, newUser, TestDevice, signUp } from './helpers.js';

/**
 * Two instances on one PostgreSQL database. The browser waits (SSE) on instance A while the
 * service delivers the signed callback to instance B: the approval must still reach the browser
 * at once, through the shared event bus, and A must accept the completion.
 */
describe.skipIf(!pgAvailable())('scale-out: approval seen across instances (postgres)', () => {
  let a: TestSystem;
  let b: TestSystem;
  beforeAll(async () => {
    const pgSchema = freshSchema();
    const env = { VERIFY_API_KEY: randomBytes(24).toString('base64url'), ENCRYPTION_KEY: randomBytes(32).toString('base64') };
    a = await startTestSystem({ db: 'postgres', pgSchema, env });
    // B starts last, so the built-in app's callback URL points at B.
    b = await startTestSystem({ db: 'postgres', pgSchema, env });
  });
  afterAll(async () => {
    await b?.stop();
    await a?.stop();
  });

  it('when the callback lands on instance B then the SSE stream on instance A reports approved', async () => {
    const u = newUser();
    const owner = new Browser(a.url);
    await signUp(owner, u);
    const act = await owner.post('/user/authenticators', {});
    const device = await TestDevice.activate(a.url, (act.body.activation as { link: string }).link);

    const browser = new Browser(a.url);
    const login = await browser.post('/session', { email: u.email, password: u.password });
    expect(login.body.state).toBe('approve');
    const status = await openSse(`${a.url}/authy/status`, { cookie: browser.cookie! });
    const [req] = await eventually(async () => {
      const l = await device.pending();
      return l.length ? l : undefined;
    });
    expect((await device.answer(req!, 'approve', login.body.number as string)).status).toBe(200);
    await status.waitFor(statusEvent('approved'), 8000);
    status.close();
    // The callback was received by B (A's log has no callback request). B publishes the answer
    // before its response to the service ends, and the access log is written at that end.
    await eventually(async () => b.logs.some((l) => l.includes('POST /authy/callback')) || undefined, 5000);
    expect(b.logs.some((l) => l.includes('POST /authy/callback'))).toBe(true);
    expect(a.logs.some((l) => l.includes('POST /authy/callback'))).toBe(false);
    expect((await browser.post('/session/complete', {})).status).toBe(200);
    expect((await browser.get('/user')).status).toBe(200);
  });
});
