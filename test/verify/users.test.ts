import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { authy } from './helpers.js';

forEachDatabase((kind) => {
  describe(`users on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(() => t.stop());

    it('when a user registers then the id is stable for the same phone and country code', async () => {
      const a = await authy(t.url, t.apiKey, 'POST', '/protected/json/users/new', {
        'user[email]': 'ann@example.com',
        'user[cellphone]': '201-555-0123',
        'user[country_code]': '1',
      });
      expect(a.status).toBe(200);
      expect(a.body).toMatchObject({ message: 'User created successfully.', success: true });
      const id = (a.body['user'] as { id: number }).id;
      expect(Number.isInteger(id)).toBe(true);
      const b = await authy(t.url, t.apiKey, 'POST', '/protected/json/users/new', JSON.stringify({ user: { email: 'ann@example.com', cellphone: '201 555 0123', country_code: 1 } }));
      expect(b.status).toBe(200);
      expect((b.body['user'] as { id: number }).id).toBe(id);
      expect(a.text).not.toContain(': ');
    });

    it('when the status is asked then every field is present and the phone is masked', async () => {
      const a = await authy(t.url, t.apiKey, 'POST', '/protected/json/users/new', {
        'user[email]': 'bob@example.com',
        'user[cellphone]': '(415) 555-2671',
        'user[country_code]': '+1',
      });
      const id = (a.body['user'] as { id: number }).id;
      const s = await authy(t.url, t.apiKey, 'GET', `/protected/json/users/${id}/status`);
      expect(s.status).toBe(200);
      expect(s.body).toEqual({
        message: 'User status.',
        status: { authy_id: id, confirmed: true, registered: false, country_code: 1, phone_number: 'XXX-XXX-2671', devices: [], has_hard_token: false },
        success: true,
      });
    });
  });
});
