import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { Browser, newUser } from './helpers.js';

/**
 * Threat: account enumeration through response time. An unknown email is verified against a dummy
 * argon2 hash, so it costs what a wrong password costs.
 */
describe('login timing', () => {
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem({ env: { LOGIN_PER_ACCOUNT_LIMIT: '100', LOGIN_PER_IP_LIMIT: '1000' } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('when the email is unknown then the answer takes about as long as for a wrong password', async () => {
    const u = newUser();
    expect((await new Browser(t.url).post('/user', u)).status).toBe(201);
    const time = async (email: string) => {
      const t0 = performance.now();
      const r = await new Browser(t.url).post('/session', { email, password: 'definitely wrong' });
      expect(r.status).toBe(401);
      return performance.now() - t0;
    };
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 16; i++) {
      known.push(await time(u.email));
      unknown.push(await time(`ghost${i}.${u.email}`));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const k = median(known);
    const n = median(unknown);
    console.log(`login 401 median: wrong password ${k.toFixed(1)} ms, unknown email ${n.toFixed(1)} ms`);
    // Both pay one argon2id verification (tens of ms); without the dummy hash the unknown email
    // answers about ten times faster. The bound is a factor of two either way because the CPU is
    // shared with other suites and medians swing with it.
    expect(n).toBeGreaterThan(k * 0.5);
    expect(k).toBeGreaterThan(n * 0.5);
  });
});
