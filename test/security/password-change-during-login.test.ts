// Threat: a login made with the old password outlives the reset (or change) that was meant to end
// every session. Someone who holds the old password and a remembered browser logs in at the
// moment the owner resets it: the password is checked, the reset commits and ends every session,
// and only then does the login commit its own, a full one, that nothing ends.
//
// The login re-reads the password in the transaction that starts its session: on PostgreSQL it
// locks the account's row to its commit (a reset then waits, and ends the new session after), on
// SQLite the transaction holds the only writer. Here another connection holds the row while the
// login is past its password check, and changes the password as a reset does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { hashPassword } from '../../src/app/passwords.js';
import { awaitMail, Browser, latestSmsCode, newUser, resetTokenIn, signUp } from '../app/helpers.js';
import { pgAvailable } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { appUserId, holdRows } from './helpers.js';

describe.skipIf(!pgAvailable())('password changed during a login on postgres', () => {
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem({ db: 'postgres', env: { MAIL_PER_ADDRESS_LIMIT: '20', SMS_PER_PHONE_LIMIT: '20' } });
  });
  afterAll(() => t.stop());

  it('when a reset commits while a remembered browser\'s login with the old password is past its check then the login is refused and no session of the account is left', async () => {
    const u = newUser();
    await signUp(new Browser(t.url), u);
    const b = new Browser(t.url);
    expect((await b.post('/session', { email: u.email, password: u.password })).body.state).toBe('code');
    const { code } = await latestSmsCode(t.url, `+1${u.phone}`);
    expect((await b.post('/session/verify', { code, remember: true })).body.state).toBe('logged_in');
    expect((await b.del('/session')).status).toBe(200);
    const id = await appUserId(t, u.email);
    const newHash = await hashPassword('a brand new password 42');

    // What a reset writes, with the account's row held: the new password, then every session and
    // remembered browser ended.
    const reset = await holdRows(t, sql`SELECT id FROM app_users WHERE id = ${id} FOR UPDATE`, async (conn) => {
      await sql`UPDATE app_users SET password_hash = ${newHash} WHERE id = ${id}`.execute(conn);
      await sql`DELETE FROM app_sessions WHERE user_id = ${id}`.execute(conn);
      await sql`DELETE FROM app_remembered_browsers WHERE user_id = ${id}`.execute(conn);
    });
    const login = b.post('/session', { email: u.email, password: u.password });
    // The password check (argon2id) is over well within this; the login then waits for the row.
    await new Promise((r) => setTimeout(r, 500));
    await reset.release();
    const r = await login;
    expect(r.status).toBe(401);
    expect(r.body).toMatchObject({ code: 'INVALID_CREDENTIALS' });
    const left = await t.system.db.selectFrom('app_sessions').select('token_hash').where('user_id', '=', id).execute();
    expect(left).toEqual([]);
  });

  it('when resets and remembered-browser logins with the old password race, 4 times, then none answers 5xx and no session of the account is left', async () => {
    const u = newUser();
    const signedUp = new Browser(t.url);
    await signUp(signedUp, u);
    expect((await signedUp.del('/session')).status).toBe(200);
    const id = await appUserId(t, u.email);
    let password = u.password;
    for (let i = 0; i < 4; i++) {
      // A browser remembered with the current password, and a reset link.
      const b = new Browser(t.url);
      expect((await b.post('/session', { email: u.email, password })).body.state).toBe('code');
      const { code } = await latestSmsCode(t.url, `+1${u.phone}`);
      expect((await b.post('/session/verify', { code, remember: true })).body.state).toBe('logged_in');
      expect((await b.del('/session')).status).toBe(200);
      expect((await new Browser(t.url).post('/password/forgot', { email: u.email })).status).toBe(202);
      const token = resetTokenIn(await awaitMail(t.url, u.email, 'Reset your password', i + 1));
      const next = `a brand new passphrase ${i}`;
      const [reset, login] = await Promise.all([new Browser(t.url).post('/password/reset', { token, password: next }), b.post('/session', { email: u.email, password })]);
      const left = await t.system.db.selectFrom('app_sessions').select('token_hash').where('user_id', '=', id).execute();
      const what = `round ${i}: reset ${reset.status}, login ${login.status}, ${left.length} sessions left`;
      if (reset.status === 200) {
        // The login came before the reset (and was ended by it) or after (and was refused).
        expect([200, 401], what).toContain(login.status);
        expect(left, what).toEqual([]);
        password = next;
      } else {
        // The login committed first and, as a complete login does, ended the reset link.
        expect([reset.status, reset.body['code'], login.status], what).toEqual([400, 'RESET_LINK_INVALID', 200]);
        expect(left, what).toHaveLength(1);
        expect((await b.del('/session')).status).toBe(200);
      }
    }
  }, 60_000);
});
