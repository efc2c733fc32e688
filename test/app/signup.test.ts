import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { Browser, newUser } from './helpers.js';

forEachDatabase((kind) => {
  describe(`signup (POST /user) on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(async () => {
      await t?.stop();
    });

    it('when the form is valid then the user is created, registered and logged in', async () => {
      const b = new Browser(t.url);
      const u = newUser();
      const r = await b.post('/user', u);
      expect(r.status).toBe(201);
      expect(r.body).toEqual({ state: 'logged_in' });
      expect(b.cookie).toMatch(/^twofold=[A-Za-z0-9_-]{43}$/);
      const me = await b.get('/user');
      expect(me.status).toBe(200);
      const user = me.body.user as Record<string, unknown>;
      expect(user.email).toBe(u.email);
      expect(user.fullName).toBe('Ada Lovelace');
      const events = me.body.events as { type: string; outcome: string }[];
      expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['signup', 'login']));
    });

    it.each([
      ['email', { email: 'not-an-email' }],
      ['password', { password: 'short' }],
      ['password', { password: 'password123' }],
      ['password', { password: 'qwertyuiop' }],
      ['phone', { phone: '12' }],
      ['phone', { countryCode: 'FR', phone: '2015550123' }],
      ['phone', { countryCode: 'ZZ', phone: '2015550123' }],
      ['countryCode', { countryCode: ['US'] }],
      ['fullName', { fullName: '' }],
      ['fullName', { fullName: 'x'.repeat(500) }],
      ['email', { email: 42 }],
    ])('when %s is invalid (%j) then 400 VALIDATION names the field', async (field, over) => {
      const b = new Browser(t.url);
      const r = await b.post('/user', { ...newUser(), ...over });
      expect(r.status).toBe(400);
      expect(r.body.code).toBe('VALIDATION');
      expect(Object.keys(r.body.fields as object)).toContain(field);
      expect(b.cookie).toBeUndefined();
    });

    it('when the body is malformed JSON, an array or empty then 400, never 500', async () => {
      const b = new Browser(t.url);
      expect((await b.post('/user', '{"email":')).status).toBe(400);
      expect((await b.post('/user', '[1,2]')).status).toBe(400);
      expect((await b.post('/user', '')).status).toBe(400);
      expect((await b.post('/user', '"text"')).status).toBe(400);
    });

    /** Threat: a race between two signups with one email creating two accounts or leaking which won. */
    it('when the same email signs up concurrently then every answer is the same and exactly one account exists', async () => {
      const u = newUser();
      const browsers = Array.from({ length: 4 }, () => new Browser(t.url));
      const answers = await Promise.all(browsers.map((b) => b.post('/user', u)));
      expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201]);
      expect(new Set(answers.map((a) => JSON.stringify(a.body))).size).toBe(1);
      const me = await Promise.all(browsers.map((b) => b.get('/user')));
      expect(me.filter((r) => r.status === 200)).toHaveLength(1);
      const login = await new Browser(t.url).post('/session', { email: u.email, password: u.password });
      expect(login.status).toBe(200);
    });

    it('when the email is already taken then the answer looks like a success but logs nobody in (no enumeration)', async () => {
      const u = newUser();
      const first = new Browser(t.url);
      expect((await first.post('/user', u)).status).toBe(201);
      const again = new Browser(t.url);
      const t0 = performance.now();
      const r = await again.post('/user', { ...u, email: u.email.toUpperCase(), password: 'another good passphrase' });
      const dupMs = performance.now() - t0;
      expect(r.status).toBe(201);
      expect(r.body).toEqual({ state: 'logged_in' });
      expect(again.cookie).toBeDefined();
      expect((await again.get('/user')).status).toBe(401);
      // Timing: a fresh signup and a duplicate take about as long (both hash; the duplicate pads).
      const fresh = new Browser(t.url);
      const t1 = performance.now();
      await fresh.post('/user', newUser());
      const freshMs = performance.now() - t1;
      expect(Math.abs(dupMs - freshMs)).toBeLessThan(Math.max(150, freshMs));
      // The real owner sees the attempt.
      const me = await first.get('/user');
      const events = me.body.events as { type: string; outcome: string }[];
      expect(events.some((e) => e.type === 'signup' && e.outcome === 'failure')).toBe(true);
    });
  });
});
