// Threat: push bombing — flooding a user's phone with approval requests until a tired or careless
// tap approves one; requests are capped at PUSH_PER_USER_LIMIT (3) per user per 10 minutes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { collectEvents, createApp, createApproval, sleep, userWithDevice } from '../onetouch/helpers.js';
import { Browser } from '../app/helpers.js';
import { passwordStep, userWithDevice as appUserWithDevice } from './helpers.js';

forEachDatabase((kind) => {
  describe(`push request cap on ${kind}`, () => {
    let ts: TestSystem;
    let app: { id: number; apiKey: string };
    beforeAll(async () => {
      ts = await startTestSystem({ db: kind, env: { LOGIN_PER_ACCOUNT_LIMIT: '50' } });
      app = await createApp(ts, null, `Push cap ${kind}`);
    });
    afterAll(() => ts.stop());

    it('when a fourth request comes within 10 minutes then 429 and the device sees only three', async () => {
      const { userId, device } = await userWithDevice(ts, app.apiKey);
      const stream = collectEvents(device);
      for (let i = 0; i < 3; i++) expect((await createApproval(ts.url, app.apiKey, userId, { message: `req ${i}` })).status).toBe(200);
      const fourth = await createApproval(ts.url, app.apiKey, userId, { message: 'req 3' });
      expect(fourth.status).toBe(429);
      expect(fourth.text).toBe(
        '{"message":"Too many approval requests for this user, try again later","success":false,"errors":{"message":"Too many approval requests for this user, try again later"},"error_code":"60003"}',
      );
      await stream.until(() => stream.events.filter((e) => e.type === 'approval_request').length >= 3);
      await sleep(300);
      await stream.close();
      expect(stream.events.filter((e) => e.type === 'approval_request')).toHaveLength(3);
      expect(await device.pending()).toHaveLength(3);
      const rows = await ts.system.db.selectFrom('approval_requests').select('uuid').where('user_id', '=', userId).execute();
      expect(rows).toHaveLength(3);
    });

    it('when ten requests race for one user then at most three are stored', async () => {
      const { userId } = await userWithDevice(ts, app.apiKey);
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => createApproval(ts.url, app.apiKey, userId, { message: `race ${i}` })));
      expect(results.filter((r) => r.status === 200).length).toBeLessThanOrEqual(3);
      expect(results.filter((r) => r.status !== 200).every((r) => r.status === 429)).toBe(true);
      const rows = await ts.system.db.selectFrom('approval_requests').select('uuid').where('user_id', '=', userId).execute();
      expect(rows.length).toBeLessThanOrEqual(3);
    });

    it('when a fourth web-app login comes within 10 minutes then no fourth push is sent and the login falls back to a code', async () => {
      const { u, device } = await appUserWithDevice(ts);
      const states: unknown[] = [];
      for (let i = 0; i < 4; i++) states.push((await passwordStep(ts, u)).body.state);
      expect(states).toEqual(['approve', 'approve', 'approve', 'code']);
      expect(await device.pending()).toHaveLength(3);
      // A burst of logins cannot push past the cap either.
      const burst = await Promise.all(Array.from({ length: 5 }, () => new Browser(ts.url).post('/session', { email: u.email, password: u.password })));
      expect(burst.every((r) => r.status === 200 && r.body.state === 'code')).toBe(true);
      expect(await device.pending()).toHaveLength(3);
    });

    /** Threat (to the user): texts arriving unasked whenever the push cap is reached. */
    it('when a user with an authenticator passes the push cap then the login offers the authenticator code, and a text goes out only on request', async () => {
      const { u } = await appUserWithDevice(ts);
      const to = `+1${u.phone}`;
      const texts = async () => ((await (await fetch(`${ts.url}/dev/sms.json?to=${encodeURIComponent(to)}`)).json()) as { messages: unknown[] }).messages.length;
      const before = await texts();
      for (let i = 0; i < 3; i++) expect((await passwordStep(ts, u)).body.state).toBe('approve');
      const capped = await passwordStep(ts, u);
      expect(capped.body).toMatchObject({ state: 'code', via: 'app' });
      expect(await texts()).toBe(before);
      const asked = await capped.b.post('/session/resend', {});
      expect(asked.status).toBe(200);
      expect(await texts()).toBe(before + 1);
    });
  });
});
