// Threat: open redirect — a login link carrying `return_to=<attacker URL>` sends the freshly
// logged-in user to a look-alike site (phishing with this site's good name); only same-origin
// paths may ever be followed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { safeReturnTo } from '../../src/app/guards.js';
import { safeReturnTo as spaSafeReturnTo } from '../../web/shared/return-to.js';
import { Browser } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { userWithDevice, userWithTotp } from './helpers.js';

const EVIL = [
  'https://evil.tld',
  '//evil.tld',
  '/\\evil.tld',
  'https://host.evil.tld',
  'https://evil.tld/account',
  '///evil.tld',
  '/\t/evil.tld',
  '/\n/evil.tld',
  '\\\\evil.tld',
  'http:evil.tld',
  'javascript:alert(1)',
  ' //evil.tld',
  '%2F%2Fevil.tld',
  'evil.tld',
];

describe('return_to rule (server and SPA)', () => {
  it.each(EVIL.map((x) => [x]))('when the target is %j then the fallback is used', (input) => {
    expect(safeReturnTo(input, '/account')).toBe('/account');
    expect(spaSafeReturnTo(input)).toBe('/account');
  });

  it.each([
    ['/account', '/account'],
    ['/account?tab=1', '/account?tab=1'],
    ['', '/account'],
    [42, '/account'],
    [['/account'], '/account'],
  ])('when the target is %j then %j is used', (input, expected) => {
    expect(safeReturnTo(input, '/account')).toBe(expected);
  });
});

forEachDatabase((kind) => {
  describe(`return_to on login on ${kind}`, () => {
    let t: TestSystem;
    let code: { email: string; password: string };
    let push: { email: string; password: string };
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, env: { LOGIN_PER_ACCOUNT_LIMIT: '100', PUSH_PER_USER_LIMIT: '100' } });
      code = (await userWithTotp(t)).u;
      push = (await userWithDevice(t)).u;
    });
    afterAll(() => t.stop());

    it.each(EVIL.map((x) => [x]))('when login is asked with return_to %j then the answer names /account, never the target', async (target) => {
      for (const u of [code, push]) {
        const r = await new Browser(t.url).post('/session', { email: u.email, password: u.password, return_to: target });
        expect(r.status).toBe(200);
        expect(r.body.return_to).toBe('/account');
        expect(r.headers.get('location')).toBeNull();
      }
    });

    it('when login is asked with a same-origin return_to then it is kept', async () => {
      const r = await new Browser(t.url).post('/session', { email: code.email, password: code.password, return_to: '/account?tab=devices' });
      expect(r.body.return_to).toBe('/account?tab=devices');
    });
  });
});
