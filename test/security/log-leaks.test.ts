// Threat: an operator, a log pipeline or anyone who reads the logs learns a password, code, TOTP
// seed, API key or session token that the logs should never have held.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { findSecrets, runWholeFlow, type SeenSecrets } from './whole-flow.js';

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

    it('when logged, requests appear as route patterns, never raw URLs with their parameters', () => {
      const http = t.logs.map((l) => JSON.parse(l) as { msg?: string; route?: string }).filter((l) => l.msg === 'http');
      expect(http.length).toBeGreaterThan(10);
      expect(http.some((l) => l.route?.includes('/protected/json/verify/:token/:authy_id') || l.route?.includes(':token'))).toBe(true);
      expect(http.every((l) => !l.route?.includes('?'))).toBe(true);
    });
  });
});
