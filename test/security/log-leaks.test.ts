// Threat: an operator, a log pipeline or anyone who reads the logs learns a password, code, TOTP
// seed, API key or session token that the logs should never have held.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/platform/logger.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { findSecrets, runWholeFlow, type SeenSecrets } from './whole-flow.js';

/** A logger at trace level writing into a list of parsed lines. */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger('trace', sink), lines };
}

describe('log fields are an allow-list', () => {
  it('when a log call passes a field nobody allowed then its value is written as [redacted], whatever its name', () => {
    const { logger, lines } = capture();
    logger.info({ route: '/session', otp: '123456', smsBody: 'Your code is 654321', phone: '+15005550006', nested: { token: 'abc' }, code: '777777' }, 'by mistake');
    expect(lines[0]).toMatchObject({ route: '/session', otp: '[redacted]', smsBody: '[redacted]', phone: '[redacted]', nested: '[redacted]', code: '[redacted]', msg: 'by mistake' });
    expect(JSON.stringify(lines)).not.toMatch(/123456|654321|5550006|abc|777777/);
  });

  it('when a request is refused then its error code is in the log (not hidden with the secrets)', () => {
    const { logger, lines } = capture();
    logger.info({ route: '/session/verify', error_code: 'RATE_LIMITED', reason: 'codes per ip' }, 'request refused');
    expect(lines[0]).toMatchObject({ error_code: 'RATE_LIMITED', reason: 'codes per ip' });
  });

  it('when an error is logged then its class, message, code and cause show, not its other properties (a database error quotes row values there)', () => {
    const { logger, lines } = capture();
    const e = Object.assign(new Error('duplicate key value violates unique constraint', { cause: new Error('socket hang up') }), { code: '23505', detail: 'Key (phone)=(+15005550006) already exists.' });
    logger.error({ err: e, route: '/user' }, 'request failed');
    const err = lines[0]!.err as Record<string, unknown>;
    expect(err).toMatchObject({ type: 'Error', message: 'duplicate key value violates unique constraint', code: '23505', cause: { message: 'socket hang up' } });
    expect(JSON.stringify(lines[0])).not.toContain('5550006');
  });
});

forEachDatabase((kind) => {
  describe(`log leaks on ${kind}`, () => {
    let t: TestSystem;
    let seen: SeenSecrets;
    beforeAll(async () => {
      // The most verbose level: whatever any module logs, at any level, is searched.
      t = await startTestSystem({ db: kind, env: { LOG_LEVEL: 'trace' } });
      seen = await runWholeFlow(t);
      // Plus the refusals, which log reasons: wrong key, wrong code.
      await fetch(`${t.url}/protected/json/users/1/status?api_key=${encodeURIComponent(t.apiKey)}x`);
      await fetch(`${t.url}/protected/json/verify/${seen.codes[0]}/1`, { headers: { 'X-Authy-API-Key': t.apiKey } });
    }, 60_000);
    afterAll(() => t.stop());

    it('when the whole flow ran at trace level then the logs hold no password, code, seed, key or token', () => {
      expect(t.logs.length).toBeGreaterThan(30);
      expect(findSecrets(t.logs.join('\n'), seen)).toEqual([]);
    });

    it('when the whole flow ran then the refusals in the log carry their error codes', () => {
      const refused = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request refused' || l.msg === 'authy request refused');
      expect(refused.length).toBeGreaterThan(0);
      expect(refused.every((l) => typeof l.error_code === 'string' && l.error_code !== '[redacted]')).toBe(true);
    });

    it('when logged, requests appear as route patterns, never raw URLs with their parameters', () => {
      const http = t.logs.map((l) => JSON.parse(l) as { msg?: string; route?: string }).filter((l) => l.msg === 'http');
      expect(http.length).toBeGreaterThan(10);
      expect(http.some((l) => l.route?.includes('/protected/json/verify/:token/:authy_id') || l.route?.includes(':token'))).toBe(true);
      expect(http.every((l) => !l.route?.includes('?'))).toBe(true);
    });
  });
});
