// Threat: an authentication event that leaves no trace (or a wrong, out-of-order or secret-bearing
// one), so that neither the user nor an operator can see or reconstruct what happened to an account.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/platform/crypto.js';
import { main, type CliIo } from '../../src/cli.js';
import { Browser } from '../app/helpers.js';
import { forEachDatabase, pgUrl } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { findSecrets, runWholeFlow, type SeenSecrets } from './whole-flow.js';

/** (type, outcome, factor kind) of every event the web app records for the user, in order. */
const EXPECTED_APP: [string, string, string | null][] = [
  ['signup', 'success', null],
  ['login', 'success', 'signup'],
  ['logout', 'success', null],
  // SMS login (no authenticator yet).
  ['password', 'success', null],
  ['second_factor_sent', 'success', 'sms'],
  ['second_factor', 'success', 'sms'],
  ['login', 'success', 'sms'],
  // Authenticator activation link.
  ['device_activated', 'info', null],
  ['logout', 'success', null],
  // Push approved.
  ['password', 'success', null],
  ['approval_requested', 'info', 'push'],
  ['approval_answered', 'success', null],
  ['second_factor', 'success', 'push'],
  ['login', 'success', 'push'],
  ['logout', 'success', null],
  // Push denied, then the authenticator's TOTP code.
  ['password', 'success', null],
  ['approval_requested', 'info', 'push'],
  ['approval_answered', 'failure', null],
  ['second_factor', 'failure', 'push'],
  ['second_factor', 'success', 'totp'],
  ['login', 'success', 'totp'],
  // A third-party TOTP app confirmed.
  ['device_activated', 'success', 'totp_app'],
];

/** The same person at the verification service. */
const EXPECTED_SERVICE: [string, string, string | null][] = [
  ['second_factor_sent', 'info', 'sms'],
  ['second_factor', 'success', 'sms'],
  ['device_activated', 'success', null],
  ['totp_secret_created', 'success', 'device'],
  ['approval_requested', 'info', null],
  ['approval_answered', 'success', null],
  ['approval_requested', 'info', null],
  ['approval_answered', 'failure', null],
  ['second_factor', 'success', 'totp'],
  // The third-party app: a new secret, confirmed by its first code.
  ['totp_secret_created', 'success', 'app'],
  ['totp_secret_activated', 'success', 'app'],
  ['second_factor', 'success', 'totp'],
];

forEachDatabase((kind) => {
  describe(`audit trail on ${kind}`, () => {
    let t: TestSystem & { pgSchema: string | undefined };
    let seen: SeenSecrets;
    let user: { id: number; email: string; authy_id: number | null };
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
      seen = await runWholeFlow(t);
      user = await t.system.db.selectFrom('app_users').select(['id', 'email', 'authy_id']).executeTakeFirstOrThrow();
    }, 60_000);
    afterAll(() => t.stop());

    const rowsOf = (ref: string) => t.system.db.selectFrom('audit_events').selectAll().where('user_ref', '=', ref).orderBy('at').orderBy('id').execute();
    const triple = (r: { type: string; outcome: string; detail: string | null }): [string, string, string | null] => {
      const d = r.detail ? (JSON.parse(r.detail) as Record<string, unknown>) : {};
      return [r.type, r.outcome, typeof d.kind === 'string' ? d.kind : null];
    };

    it('when the whole flow ran then the web app recorded exactly the expected events, in order, each with time, IP and user agent', async () => {
      const rows = await rowsOf(`app-user:${user.id}`);
      expect(rows.map(triple)).toEqual(EXPECTED_APP);
      for (const r of rows) {
        expect(r.at).toBeGreaterThan(0);
        // The callback is server-to-server: those two kinds carry no browser.
        if (r.type === 'approval_answered' || (r.type === 'second_factor' && r.outcome === 'failure')) continue;
        expect(r.ip, r.type).toMatch(/127\.0\.0\.1/);
        expect(r.user_agent, r.type).toContain('Mozilla/5.0');
      }
      const at = rows.map((r) => r.at);
      expect([...at].sort((a, b) => a - b)).toEqual(at);
    });

    it('when the whole flow ran then the service recorded exactly the expected events for the same person', async () => {
      expect((await rowsOf(`authy:${user.authy_id}`)).map(triple)).toEqual(EXPECTED_SERVICE);
    });

    it('when the audit trail is searched then it holds no password, code, seed, key or token', async () => {
      const all = await t.system.db.selectFrom('audit_events').selectAll().execute();
      expect(findSecrets(JSON.stringify(all), seen)).toEqual([]);
    });

    function cliIo(): CliIo & { outLines: string[]; errLines: string[] } {
      const outLines: string[] = [];
      const errLines: string[] = [];
      const env: Record<string, string> = { DATA_DIR: t.dataDir, NODE_ENV: 'test', LOG_LEVEL: 'silent' };
      if (t.pgSchema) env['DATABASE_URL'] = `${pgUrl()}?options=${encodeURIComponent(`-c search_path=${t.pgSchema}`)}`;
      return { out: (l) => outLines.push(...l.split('\n')), err: (l) => errLines.push(l), env, outLines, errLines };
    }

    it('when an operator runs `twofold audit --user EMAIL` then the newest 20 events of the person are printed, newest first, with time, type, outcome, detail, IP and user agent', async () => {
      const io = cliIo();
      expect(await main(['audit', '--user', user.email.toUpperCase()], io)).toBe(0);
      const [header, ...lines] = io.outLines;
      expect(header).toBe('time\ttype\toutcome\tdetail\tip\tuser_agent');
      expect(lines).toHaveLength(20);
      const cols = lines.map((l) => l.split('\t'));
      for (const c of cols) {
        expect(c).toHaveLength(6);
        expect(new Date(c[0]!).toISOString()).toBe(c[0]);
      }
      const times = cols.map((c) => Date.parse(c[0]!));
      expect([...times].sort((a, b) => b - a)).toEqual(times);
      // The newest event is the TOTP app's confirmation, with its browser.
      expect(cols[0]!.slice(1, 4)).toEqual(['device_activated', 'success', 'kind=totp_app']);
      expect(cols[0]![4]).toMatch(/127\.0\.0\.1/);
      expect(cols[0]![5]).toContain('Mozilla/5.0');
      expect(findSecrets(io.outLines.join('\n'), seen)).toEqual([]);
    });

    it('when --limit is given then that many events are printed; an unknown email exits 1 with a message; a bad argument exits 2', async () => {
      const io = cliIo();
      expect(await main(['audit', '--user', user.email, '--limit', '3'], io)).toBe(0);
      expect(io.outLines).toHaveLength(4);
      const all = cliIo();
      expect(await main(['audit', '--user', user.email, '--limit', '1000'], all)).toBe(0);
      expect(all.outLines.length - 1).toBe(EXPECTED_APP.length + EXPECTED_SERVICE.length);
      const unknown = cliIo();
      expect(await main(['audit', '--user', 'nobody@example.com'], unknown)).toBe(1);
      expect(unknown.errLines.join('\n')).toMatch(/No user with the email nobody@example.com/);
      for (const bad of [['audit'], ['audit', '--user', 'not-an-email'], ['audit', '--user', user.email, '--limit', '0'], ['audit', '--user', user.email, '--limit', 'x'], ['audit', '--nope']]) {
        const io2 = cliIo();
        expect(await main(bad, io2), bad.join(' ')).toBe(2);
      }
    });

    it('when the user opens their page then it lists their last 20 events, newest first (after the CLI tests: it adds none)', async () => {
      // A full session for this user, made directly: the flow's device is gone with runWholeFlow.
      const token = randomBytes(32).toString('base64url');
      const now = Date.now();
      await t.system.db
        .insertInto('app_sessions')
        .values({ token_hash: sha256Hex(token), user_id: user.id, state: 'full', login_attempt_id: null, created_at: now, last_seen_at: now, expires_at: now + 3600_000 })
        .execute();
      const b = new Browser(t.url);
      b.cookie = `twofold=${token}`;
      const me = await b.get('/user');
      expect(me.status).toBe(200);
      const events = me.body.events as { id: number; at: number; type: string; outcome: string; ip: string | null; detail: Record<string, unknown> }[];
      const newest = (await rowsOf(`app-user:${user.id}`)).reverse().slice(0, 20);
      expect(events.map((e) => e.id)).toEqual(newest.map((r) => r.id));
      expect(events[0]).toMatchObject({ type: 'device_activated', outcome: 'success', detail: { kind: 'totp_app' } });
      expect(events.every((e) => typeof e.at === 'number' && e.ip !== undefined)).toBe(true);
    });
  });
});
