// Threat: an approve and a deny (or many of each) racing on one request both take effect — two
// outcomes, two callbacks, or a session for a login that was denied.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, eventually, type PendingApproval } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { approvalStatus, CallbackReceiver, createApp, createApproval, postAnswer, sleep, userWithDevice } from '../onetouch/helpers.js';
import { userWithDevice as appUserWithDevice } from './helpers.js';

forEachDatabase((kind) => {
  describe(`approve ‖ deny races on ${kind}`, () => {
    let ts: TestSystem;
    const rx = new CallbackReceiver();
    let app: { id: number; apiKey: string };
    beforeAll(async () => {
      ts = await startTestSystem({ db: kind, env: { PUSH_PER_USER_LIMIT: '1000', LOGIN_PER_ACCOUNT_LIMIT: '1000' } });
      await rx.start();
      app = await createApp(ts, rx.url, `Race ${kind}`);
    });
    afterAll(async () => {
      await ts.stop();
      await rx.stop();
    });

    const statusOf = async (uuid: string) => (await approvalStatus(ts.url, app.apiKey, uuid)).body['approval_request']?.status as string;

    it('when 50 approve and 50 deny race on one request then exactly one wins and one callback is sent', async () => {
      const { userId, device } = await userWithDevice(ts, app.apiKey);
      const c = await createApproval(ts.url, app.apiKey, userId, { message: 'race' });
      const uuid = c.body['approval_request'].uuid as string;
      const shown = (await device.pending())[0]!;
      const before = rx.received.length;
      const answers = Array.from({ length: 50 }, () => [
        postAnswer(ts.url, device, uuid, device.answerBody(uuid, 'approve', null, shown)),
        postAnswer(ts.url, device, uuid, device.answerBody(uuid, 'deny', null, shown)),
      ]).flat();
      const results = await Promise.all(answers);
      const ok = results.filter((r) => r.status === 200);
      expect(ok).toHaveLength(1);
      expect(results.filter((r) => r.status !== 200).every((r) => r.status === 409)).toBe(true);
      const final = await statusOf(uuid);
      expect(ok[0]!.body['approval_request'].status).toBe(final);
      await rx.waitFor(before + 1);
      await sleep(1500);
      const mine = rx.received.filter((x) => x.body['uuid'] === uuid);
      expect(mine).toHaveLength(1);
      expect(mine[0]!.body['status']).toBe(final);
    });

    it('when 50 web-app logins each get an approve and a deny at once then each has one outcome and only approved ones get a session', async () => {
      const { u, device } = await appUserWithDevice(ts);
      const logins: { b: Browser; number: string }[] = [];
      // Ten at a time: each login costs an argon2 verification.
      for (let i = 0; i < 50; i += 10) {
        const batch = await Promise.all(
          Array.from({ length: 10 }, async () => {
            const b = new Browser(ts.url);
            const r = await b.post('/session', { email: u.email, password: u.password });
            expect(r.body.state).toBe('approve');
            return { b, number: String(r.body.number) };
          }),
        );
        logins.push(...batch);
      }
      const pending = await eventually(async () => {
        const l = await device.pending();
        return l.length >= 50 ? l : undefined;
      });
      // Which request is whose: the browser's number is shown on the device only through the
      // details; match by the attempt's approval uuid in the database.
      const rows = await ts.system.db.selectFrom('app_login_attempts').select(['approval_uuid', 'approval_number']).where('approval_uuid', 'in', pending.map((p) => p.uuid)).execute();
      const numberOf = new Map(rows.map((r) => [r.approval_uuid!, r.approval_number]));
      const byUuid = new Map<string, PendingApproval>(pending.map((p) => [p.uuid, p]));
      const answers = await Promise.all(
        [...byUuid.values()].flatMap((req, i) => {
          // Alternate which answer leaves first so that both outcomes happen.
          const approve = () => device.answer(req, 'approve', numberOf.get(req.uuid) ?? null);
          const deny = () => device.answer(req, 'deny', null);
          // (An approve is checked more slowly than a deny — signature and number — so half the
          // pairs give the approve a few milliseconds' head start.)
          return i % 2 ? [approve(), sleep(10).then(deny)] : [deny(), approve()];
        }),
      );
      // Per request exactly one of the two answers won.
      for (let i = 0; i < answers.length; i += 2) {
        const pair = [answers[i]!.status, answers[i + 1]!.status].sort();
        // The loser is refused: 409 (no longer pending), or 403 when an approve lost its number
        // check to the already recorded deny.
        expect(pair[0]).toBe(200);
        expect([403, 409]).toContain(pair[1]);
      }
      // Each browser: /session/complete succeeds exactly when its request was approved.
      const outcomes = await Promise.all(
        logins.map(async (l) => {
          const status = await eventually(async () => {
            const s = (await l.b.get('/authy/status')).body.status as string;
            return s === 'pending' ? undefined : s;
          }, 10_000);
          const done = await l.b.post('/session/complete', {});
          const page = await l.b.get('/user');
          return { status, complete: done.status, page: page.status };
        }),
      );
      for (const o of outcomes) {
        if (o.status === 'approved') expect([o.complete, o.page]).toEqual([200, 200]);
        else {
          expect(o.status).toBe('denied');
          expect([o.complete, o.page]).toEqual([409, 401]);
        }
      }
      const approved = outcomes.filter((o) => o.status === 'approved').length;
      const sessions = await ts.system.db.selectFrom('app_sessions').select('token_hash').where('state', '=', 'full').execute();
      expect(sessions.length).toBe(approved);
      console.log(`push race on ${kind}: ${approved} approved, ${50 - approved} denied`);
    }, 60_000);
  });
});
