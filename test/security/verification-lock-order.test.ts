// A token check's writes commit in one transaction (src/verify/core/verification.ts): the SMS
// code's row, then the user's row (failures cleared). Every other transaction that takes both must
// take them in that order, or a check racing a phone change or a removal of the same user
// deadlocks on PostgreSQL (one of them then fails with 503 after the deadlock timeout).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { pgAvailable } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { authy, lastSms, registerUser } from '../verify/helpers.js';
import { holdRows } from './helpers.js';

const wait = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

describe.skipIf(!pgAvailable())('verification-lock-order on postgres', () => {
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem({ db: 'postgres' });
  });
  afterAll(async () => {
    await t.stop();
  });

  /** A user with a live SMS code: its id and the code. */
  const userWithCode = async (cellphone: string) => {
    const id = await registerUser(t.url, t.apiKey, cellphone);
    expect((await authy(t.url, t.apiKey, 'GET', `/protected/json/sms/${id}`, { force: 'true' })).status).toBe(200);
    const code = await lastSms(t.url, `+1${cellphone.replaceAll('-', '')}`);
    return { id, code: code! };
  };

  /**
   * Run `first` (a token check) and `second` (a write of the same user) while another connection
   * holds the user's SMS code row: both queue on it, the check first; then it is let go.
   */
  const race = async (userId: number, first: () => Promise<number>, second: () => Promise<number>) => {
    const held = await holdRows(t, sql`SELECT id FROM sms_codes WHERE user_id = ${userId} FOR UPDATE`);
    const a = first();
    await wait(300);
    const b = second();
    await wait(300);
    await held.release();
    return Promise.all([a, b]);
  };

  it('when a right SMS code is checked while the app changes the same user\'s phone then both succeed (no deadlock)', async () => {
    const { id, code } = await userWithCode('201-555-3101');
    const [verify, phone] = await race(
      id,
      () => authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${code}/${id}`).then((r) => r.status),
      () => authy(t.url, t.apiKey, 'POST', `/protected/json/users/${id}/phone`, { cellphone: '201-555-3102', country_code: '1' }).then((r) => r.status),
    );
    expect([verify, phone]).toEqual([200, 200]);
    expect(t.logs.some((l) => /deadlock/i.test(l))).toBe(false);
  });

  it('when a right SMS code is checked while the app removes the same user then neither fails with 503 (no deadlock)', async () => {
    const { id, code } = await userWithCode('201-555-3103');
    const [verify, removed] = await race(
      id,
      () => authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${code}/${id}`).then((r) => r.status),
      () => authy(t.url, t.apiKey, 'POST', `/protected/json/users/${id}/remove`).then((r) => r.status),
    );
    expect(verify).toBe(200);
    expect(removed).toBe(200);
    expect(t.logs.some((l) => /deadlock/i.test(l))).toBe(false);
  });
});
