// Threat: one client guessing second-factor codes across many accounts (each with the password,
// from a leak): the per-attempt and per-account budgets never see the total. Code checks are also
// counted per client IP (CODE_PER_IP_LIMIT per 15 minutes), whatever account they are for.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../app/helpers.js';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { otherCode, totpAt, userWithTotp } from './helpers.js';

forEachDatabase((kind) => {
  describe(`second-factor codes per client IP on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, env: { CODE_PER_IP_LIMIT: '5', TRUST_PROXY: '1' } });
    });
    afterAll(() => t?.stop());

    const from = (ip: string) => ({ 'x-forwarded-for': ip });
    async function passwordFrom(ip: string, u: { email: string; password: string }) {
      const b = new Browser(t.url);
      expect((await b.post('/session', { email: u.email, password: u.password }, from(ip))).status).toBe(200);
      return b;
    }

    it('when one IP spends its code budget over two accounts then its next check is 429, also with the right code, while another IP goes on', async () => {
      const a = await userWithTotp(t);
      const b = await userWithTotp(t);
      const attacker = '198.51.100.7';
      const onA = await passwordFrom(attacker, a.u);
      for (let i = 0; i < 3; i++) expect((await onA.post('/session/verify', { code: otherCode(totpAt(a.secret, Date.now())) }, from(attacker))).status).toBe(400);
      const onB = await passwordFrom(attacker, b.u);
      for (let i = 0; i < 2; i++) expect((await onB.post('/session/verify', { code: otherCode(totpAt(b.secret, Date.now())) }, from(attacker))).status).toBe(400);
      const refused = await onB.post('/session/verify', { code: totpAt(b.secret, Date.now()) }, from(attacker));
      expect(refused.status).toBe(429);
      expect(refused.body.code).toBe('RATE_LIMITED');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await onB.post('/session/recover', { code: 'aaaaa-bbbbb' }, from(attacker))).status).toBe(429);
      // The refusal spent none of the attempt's tries: the owner, elsewhere, logs in.
      const owner = await passwordFrom('203.0.113.9', b.u);
      const ok = await owner.post('/session/verify', { code: totpAt(b.secret, Date.now()) }, from('203.0.113.9'));
      expect(ok.status).toBe(200);
    });

    it('when codes come in a burst from one IP then no more than the budget are checked', async () => {
      const c = await userWithTotp(t);
      const ip = '198.51.100.8';
      const attempts = await Promise.all(Array.from({ length: 3 }, () => passwordFrom(ip, c.u)));
      const burst = await Promise.all(
        Array.from({ length: 15 }, (_, i) => attempts[i % 3]!.post('/session/verify', { code: otherCode(totpAt(c.secret, Date.now())) }, from(ip))),
      );
      expect(burst.filter((r) => r.status === 400).length).toBeLessThanOrEqual(5);
      expect(burst.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(10);
      expect(burst.filter((r) => r.status >= 500)).toHaveLength(0);
    });
  });
});
