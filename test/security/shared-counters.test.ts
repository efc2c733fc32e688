// Threat: rate limits kept in one process's memory — a second instance behind the load balancer,
// or a restart, hands the attacker a fresh budget of SMS, password and push attempts.
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, newUser, signUp } from '../app/helpers.js';
import { forEachDatabase, freshSchema, pgAvailable } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { createApproval, userWithDevice } from '../onetouch/helpers.js';
import { authy, registerUser } from '../verify/helpers.js';

const ENV = {
  SMS_PER_PHONE_LIMIT: '5',
  SMS_PER_IP_LIMIT: '1000',
  LOGIN_PER_ACCOUNT_LIMIT: '3',
  LOGIN_PER_IP_LIMIT: '1000',
  PUSH_PER_USER_LIMIT: '3',
};

/** What each counter allows, consumed one request at a time on whichever instance `on(i)` picks. */
async function exhaust(on: (i: number) => TestSystem, setup: TestSystem) {
  const u = newUser();
  await signUp(new Browser(setup.url), u);
  const smsUser = await registerUser(setup.url, setup.apiKey);
  const { userId: pushUser } = await userWithDevice(setup, setup.apiKey);
  return {
    sms: (i: number) => authy(on(i).url, on(i).apiKey, 'GET', `/protected/json/sms/${smsUser}`, { force: 'true' }).then((r) => r.status),
    login: (i: number) => new Browser(on(i).url).post('/session', { email: u.email, password: 'wrong password!' }).then((r) => r.status),
    push: (i: number) => createApproval(on(i).url, on(i).apiKey, pushUser, { message: `push ${i}` }).then((r) => r.status),
  };
}

forEachDatabase((kind) => {
  describe(`counters survive a restart on ${kind}`, () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'twofold-counters-'));
    const pgSchema = kind === 'postgres' ? freshSchema() : undefined;
    const env = { ...ENV, VERIFY_API_KEY: randomBytes(24).toString('base64url'), ENCRYPTION_KEY: randomBytes(32).toString('base64') };
    let current: TestSystem;
    const start = () => startTestSystem({ db: kind, dataDir, env, ...(pgSchema ? { pgSchema } : {}) });
    beforeAll(async () => {
      current = await start();
    });
    afterAll(async () => {
      await current?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('when the server restarts halfway through each budget then the remaining budget is what was left, not a fresh one', async () => {
      const use = await exhaust(() => current, current);
      const before = { sms: [] as number[], login: [] as number[], push: [] as number[] };
      for (let i = 0; i < 3; i++) before.sms.push(await use.sms(i));
      for (let i = 0; i < 2; i++) before.login.push(await use.login(i));
      for (let i = 0; i < 2; i++) before.push.push(await use.push(i));
      expect(before).toEqual({ sms: [200, 200, 200], login: [401, 401], push: [200, 200] });
      await current.stop();
      current = await start();
      const after = { sms: [] as number[], login: [] as number[], push: [] as number[] };
      for (let i = 0; i < 3; i++) after.sms.push(await use.sms(i));
      for (let i = 0; i < 2; i++) after.login.push(await use.login(i));
      for (let i = 0; i < 2; i++) after.push.push(await use.push(i));
      expect(after).toEqual({ sms: [200, 200, 429], login: [401, 429], push: [200, 429] });
    }, 60_000);
  });
});

describe.skipIf(!pgAvailable())('counters shared by two instances on one PostgreSQL database', () => {
  let a: TestSystem;
  let b: TestSystem;
  beforeAll(async () => {
    const pgSchema = freshSchema();
    const env = { ...ENV, VERIFY_API_KEY: randomBytes(24).toString('base64url'), ENCRYPTION_KEY: randomBytes(32).toString('base64') };
    a = await startTestSystem({ db: 'postgres', pgSchema, env });
    b = await startTestSystem({ db: 'postgres', pgSchema, env });
  });
  afterAll(async () => {
    await b?.stop();
    await a?.stop();
  });

  it('when requests alternate between the instances then SMS, password and push caps count them together', async () => {
    const on = (i: number) => (i % 2 ? b : a);
    const use = await exhaust(on, a);
    const sms: number[] = [];
    for (let i = 0; i < 7; i++) sms.push(await use.sms(i));
    const login: number[] = [];
    for (let i = 0; i < 5; i++) login.push(await use.login(i));
    const push: number[] = [];
    for (let i = 0; i < 5; i++) push.push(await use.push(i));
    expect({ sms, login, push }).toEqual({
      sms: [200, 200, 200, 200, 200, 429, 429],
      login: [401, 401, 401, 429, 429],
      push: [200, 200, 200, 429, 429],
    });
  }, 60_000);

  it('when a burst is split over both instances at once then the caps still hold', async () => {
    const use = await exhaust((i) => (i % 2 ? b : a), a);
    const [sms, login, push] = await Promise.all([
      Promise.all(Array.from({ length: 12 }, (_, i) => use.sms(i))),
      Promise.all(Array.from({ length: 8 }, (_, i) => use.login(i))),
      Promise.all(Array.from({ length: 8 }, (_, i) => use.push(i))),
    ]);
    expect(sms.filter((s) => s === 200).length).toBeLessThanOrEqual(5);
    expect(login.filter((s) => s === 401).length).toBeLessThanOrEqual(3);
    expect(push.filter((s) => s === 200).length).toBeLessThanOrEqual(3);
  }, 60_000);
});
