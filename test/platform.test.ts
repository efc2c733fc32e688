import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations } from '../src/migrations.js';
import { forEachDatabase } from './helpers/databases.js';
import { startTestSystem, type TestSystem } from './helpers/system.js';

describe('migrations', () => {
  it('when listed then their numbers are contiguous from 001', () => {
    const numbers = Object.keys(migrations).map((n) => Number(n.slice(0, 3)));
    expect(numbers).toEqual(numbers.map((_, i) => i + 1));
  });
});

forEachDatabase((kind) => {
  describe(`platform on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(() => t.stop());

    it('when asked /healthz then it answers ok', async () => {
      const r = await fetch(`${t.url}/healthz`);
      expect(r.status).toBe(200);
      expect(await r.json()).toEqual({ status: 'ok' });
    });

    it('when the database answers then /readyz is 200', async () => {
      const r = await fetch(`${t.url}/readyz`);
      expect(r.status).toBe(200);
    });

    it('when a route does not exist then 404 with { code, message }', async () => {
      const r = await fetch(`${t.url}/no/such/route`);
      expect(r.status).toBe(404);
      expect(await r.json()).toEqual({ code: 'NOT_FOUND', message: 'Not found' });
    });
  });
});
