// How many SQL statements the hot requests run, counted from the database driver's log: each one
// is query building, a round trip (PostgreSQL) and, outside a transaction, a commit of its own.
// The budgets are ceilings that a regression would break; `bench/` reports the figures.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { authy, registerUser, secretFromUri } from '../verify/helpers.js';
import { passwordStep, totpAt, userWithDevice, userWithTotp } from '../security/helpers.js';

/**
 * Statements run while `work` runs (begin, commit and rollback not counted), how many transactions
 * they ran in, and how many commits that made: a transaction's, plus one per write outside one.
 */
export async function countStatements(log: string[], work: () => Promise<unknown>): Promise<{ statements: number; transactions: number; commits: number; ran: string[] }> {
  const from = log.length;
  await work();
  // Work the answer leaves behind (an audit write after the response) settles first.
  await new Promise((r) => setTimeout(r, 50));
  // Timers run their own statements whatever the request does (the callback worker polling its
  // outbox, the expiry of approvals, pruning nonces and links): they are not the request's.
  const ran = log.slice(from).filter((q) => !BACKGROUND.some((b) => b.test(q)));
  let depth = 0;
  let statements = 0;
  let transactions = 0;
  let commits = 0;
  for (const q of ran) {
    const sql = q.trim();
    if (/^begin/i.test(sql)) {
      depth++;
      transactions++;
    } else if (/^(commit|rollback)/i.test(sql)) {
      depth--;
      commits++;
    } else {
      statements++;
      if (depth === 0 && !/^select/i.test(sql)) commits++;
    }
  }
  return { statements, transactions, commits, ran };
}

const BACKGROUND = [
  /^select "id" from "callback_outbox" where "delivered_at" is null/,
  /^\s*with recursive apps\(app_id\) as \(/,
  /^delete from callback_outbox where id in \(select id from callback_outbox where/,
  /^\s*update callback_outbox set lease_until/,
  /^select "uuid" from "approval_requests" where "status" = /,
  /^delete from "device_nonces" where "seen_at" </,
  /^delete from "device_activations" where "expires_at" </,
];

/** Budgets per request (statements, and the commits they make, on both databases). */
const BUDGET = {
  // The app's 10 (a complete login also ends the account's reset links) and the service's check.
  totpVerifyInApp: { statements: { sqlite: 16, postgres: 17 }, commits: { sqlite: 3, postgres: 4 } },
  // On PostgreSQL the lockout claim (the try counted in advance) commits alone: the lock order
  // keeps it out of the check's transaction. On SQLite the check reads the lockout state and
  // writes the outcome in one transaction holding the only writer: a right code of a user
  // without failures writes nothing to the user's row.
  authyVerify: { statements: { sqlite: 6, postgres: 7 }, commits: { sqlite: 1, postgres: 2 } },
  // The password step of a login that asks the user's authenticator: the attempt, its half
  // session and the record commit together, the approval and its record together. On SQLite the
  // password's rate-limit counts commit in two batches (counted here; the limiters' own
  // statements run on the driver and are not); on PostgreSQL each count is its own statement.
  // One statement re-reads the password in the session's transaction (a reset meanwhile ends it).
  passwordLogin: { statements: 14, commits: { sqlite: 5, postgres: 3 } },
};

forEachDatabase((kind) => {
  describe(`statements per request on ${kind}`, () => {
    let t: TestSystem;
    const log: string[] = [];
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, env: { LOGIN_PER_ACCOUNT_LIMIT: '100' }, onQuery: (sql) => log.push(sql) });
    });
    afterAll(() => t.stop());

    it(`when a login's TOTP code is checked (POST /session/verify) then at most ${BUDGET.totpVerifyInApp.statements[kind]} statements and ${BUDGET.totpVerifyInApp.commits[kind]} commits run, app and service together`, async () => {
      const { u, secret } = await userWithTotp(t);
      const a = await passwordStep(t, u, 'code');
      const counted = await countStatements(log, async () => {
        const r = await a.b.post('/session/verify', { code: totpAt(secret, Date.now()) });
        expect(r.status).toBe(200);
      });
      console.log(`[statements] ${kind} POST /session/verify (TOTP): ${counted.statements} statements, ${counted.transactions} transactions, ${counted.commits} commits`);
      if (process.env['SHOW_SQL']) console.log(counted.ran.join('\n'));
      expect(counted.statements, counted.ran.join('\n')).toBeLessThanOrEqual(BUDGET.totpVerifyInApp.statements[kind]);
      expect(counted.commits, counted.ran.join('\n')).toBeLessThanOrEqual(BUDGET.totpVerifyInApp.commits[kind]);
    });

    it(`when a password is accepted and the authenticator asked (POST /session) then at most ${BUDGET.passwordLogin.statements} statements and ${BUDGET.passwordLogin.commits[kind]} commits run, app and service together`, async () => {
      const { u } = await userWithDevice(t);
      const counted = await countStatements(log, () => passwordStep(t, u, 'approve'));
      console.log(`[statements] ${kind} POST /session (push): ${counted.statements} statements, ${counted.transactions} transactions, ${counted.commits} commits`);
      if (process.env['SHOW_SQL']) console.log(counted.ran.join('\n'));
      expect(counted.statements, counted.ran.join('\n')).toBeLessThanOrEqual(BUDGET.passwordLogin.statements);
      expect(counted.commits, counted.ran.join('\n')).toBeLessThanOrEqual(BUDGET.passwordLogin.commits[kind]);
    });

    it(`when an app checks a token (GET /protected/json/verify/{token}/{id}) then at most ${BUDGET.authyVerify.statements[kind]} statements and ${BUDGET.authyVerify.commits[kind]} commits run`, async () => {
      const id = await registerUser(t.url, t.apiKey, '201-555-0142', 'statements@example.com');
      const secretRes = await authy(t.url, t.apiKey, 'POST', `/protected/json/users/${id}/secret`, {});
      const secret = secretFromUri(String(secretRes.body.uri));
      // The first code confirms the new secret; the count is for an ordinary check after it.
      expect((await authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${totpAt(secret, Date.now() - 30_000)}/${id}`)).status).toBe(200);
      const counted = await countStatements(log, async () => {
        const r = await authy(t.url, t.apiKey, 'GET', `/protected/json/verify/${totpAt(secret, Date.now())}/${id}`);
        expect(r.status).toBe(200);
      });
      console.log(`[statements] ${kind} GET /protected/json/verify: ${counted.statements} statements, ${counted.transactions} transactions, ${counted.commits} commits`);
      if (process.env['SHOW_SQL']) console.log(counted.ran.join('\n'));
      expect(counted.statements, counted.ran.join('\n')).toBeLessThanOrEqual(BUDGET.authyVerify.statements[kind]);
      expect(counted.commits, counted.ran.join('\n')).toBeLessThanOrEqual(BUDGET.authyVerify.commits[kind]);
    });
  });
});
