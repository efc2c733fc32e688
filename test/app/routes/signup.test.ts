import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/platform/clock.js';
import { forEachDatabase } from '../../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../../helpers/system.js';
import { awaitMail, Browser, e164Of, eventually, latestSmsCode, mailTo, newUser, signUp, signupTokenIn } from '../helpers.js';
import { expectError } from './fixtures.js';

/** A code that is certainly not `code`. */
const wrong = (code: string) => String((Number(code) + 500_000) % 1_000_000).padStart(6, '0');

forEachDatabase((kind) => {
  describe(`signup (POST /user, POST /user/verify-phone, POST /user/verify-email) on ${kind}`, () => {
    let t: TestSystem;
    const clock = new ManualClock(Date.now());
    beforeAll(async () => {
      // Four signups of one address below each get their link.
      t = await startTestSystem({ db: kind, clock, env: { MAIL_PER_ADDRESS_LIMIT: '10' } });
    });
    afterAll(async () => {
      await t?.stop();
    });

    it('when the form is valid then a code goes to the phone and nothing exists until it is entered', async () => {
      const b = new Browser(t.url);
      const u = newUser();
      const r = await b.post('/user', u);
      expect(r.status).toBe(202);
      expect(r.body).toMatchObject({ state: 'verify_phone', retry_after: 30, attempts_left: 5 });
      expect(String(r.body.phone)).toContain('201');
      expect(b.cookie).toBeUndefined();
      expect(b.signupCookie).toMatch(/^twofold-signup=[A-Za-z0-9_-]{43}$/);
      // No user yet: the password logs nobody in, the page is closed.
      expect((await b.get('/user')).status).toBe(401);
      expect((await new Browser(t.url).post('/session', { email: u.email, password: u.password })).status).toBe(401);
      expect((await b.get('/user/signup')).body).toMatchObject({ state: 'verify_phone' });

      const { code } = await latestSmsCode(t.url, e164Of(u));
      expect(code).toMatch(/^\d{6}$/);
      const phone = await b.post('/user/verify-phone', { code });
      expect(phone.status).toBe(202);
      expect(phone.body).toEqual({ state: 'verify_email', email: u.email, retry_after: 30, expires_at: expect.any(Number) });
      expect(b.cookie).toBeUndefined();
      // Still nothing: the address is not proved yet.
      expect((await new Browser(t.url).post('/session', { email: u.email, password: u.password })).status).toBe(401);
      expect((await b.get('/user/signup')).body).toMatchObject({ state: 'verify_email', email: u.email });
      expectError(await b.post('/user/verify-phone', { code }), 409, 'ALREADY_COMPLETED');
      const mail = await awaitMail(t.url, u.email, 'Confirm your email address');
      expect(mail.text).toContain('IP address: 127.0.0.1');
      // The link opens in another browser too (the mail may be read elsewhere), with the
      // password chosen at signup: that browser is logged in.
      const elsewhere = new Browser(t.url);
      expectError(await elsewhere.post('/user/verify-email', { token: signupTokenIn(mail) }), 401, 'PASSWORD_REQUIRED');
      expectError(await elsewhere.post('/user/verify-email', { token: signupTokenIn(mail), password: 'not the one chosen' }), 400, 'VALIDATION', { fields: { password: expect.any(String) } });
      const done = await elsewhere.post('/user/verify-email', { token: signupTokenIn(mail), password: u.password });
      expect(done.status).toBe(201);
      expect(done.body).toEqual({ state: 'logged_in' });
      expect(elsewhere.cookie).toMatch(/^twofold=[A-Za-z0-9_-]{43}$/);
      const me = await elsewhere.get('/user');
      expect(me.status).toBe(200);
      const user = me.body.user as Record<string, unknown>;
      expect(user.email).toBe(u.email);
      expect(user.fullName).toBe('Ada Lovelace');
      const events = me.body.events as { type: string; outcome: string }[];
      expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['signup', 'login']));
      // The pending signup is gone: its cookie, code and link cannot create a second account.
      expect((await b.get('/user/signup')).status).toBe(401);
      expectError(await new Browser(t.url).post('/user/verify-email', { token: signupTokenIn(mail) }), 400, 'SIGNUP_LINK_INVALID');
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
      ['phone', { countryCode: '999', phone: '12345' }],
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
      expect(b.signupCookie).toBeUndefined();
    });

    it('when the body is malformed JSON, an array or empty then 400, never 500', async () => {
      const b = new Browser(t.url);
      expect((await b.post('/user', '{"email":')).status).toBe(400);
      expect((await b.post('/user', '[1,2]')).status).toBe(400);
      expect((await b.post('/user', '')).status).toBe(400);
      expect((await b.post('/user', '"text"')).status).toBe(400);
      expect((await b.post('/user/verify-phone', { code: 'abc' })).status).toBe(400);
    });

    it('when there is no pending signup then verify-phone and resend answer 401 SIGNUP_EXPIRED', async () => {
      const b = new Browser(t.url);
      const r = await b.post('/user/verify-phone', { code: '123456' });
      expect(r.status).toBe(401);
      expect(r.body.code).toBe('SIGNUP_EXPIRED');
      expect((await b.post('/user/resend-phone', {})).status).toBe(401);
    });

    /** Threat: guessing the phone code instead of holding the phone. */
    it('when five wrong codes are entered then the pending signup ends and the right code no longer works', async () => {
      const b = new Browser(t.url);
      const u = newUser();
      expect((await b.post('/user', u)).status).toBe(202);
      const { code } = await latestSmsCode(t.url, e164Of(u));
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await b.post('/user/verify-phone', { code: wrong(code) })).status);
      expect(statuses).toEqual([400, 400, 400, 400, 403]);
      const after = await b.post('/user/verify-phone', { code });
      expect(after.status).toBe(401);
      expect((await new Browser(t.url).post('/session', { email: u.email, password: u.password })).status).toBe(401);
    });

    /** Threat: a burst of parallel guesses getting more than five comparisons. */
    it('when 20 wrong codes arrive at once then at most five are compared and the signup ends', async () => {
      const b = new Browser(t.url);
      const u = newUser();
      expect((await b.post('/user', u)).status).toBe(202);
      const { code } = await latestSmsCode(t.url, e164Of(u));
      const answers = await Promise.all(Array.from({ length: 20 }, () => b.post('/user/verify-phone', { code: wrong(code) })));
      expect(answers.filter((a) => a.status === 400).length).toBeLessThanOrEqual(4);
      expect(answers.every((a) => a.status === 400 || a.status === 403 || a.status === 401)).toBe(true);
      expect((await b.post('/user/verify-phone', { code })).status).toBe(401);
    });

    /** Threat: one code, or one link, creating two accounts when its requests race. */
    it('when the right code is sent 10 times at once then one link goes out, and 10 racing clicks on it create exactly one account', async () => {
      const b = new Browser(t.url);
      const u = newUser();
      expect((await b.post('/user', u)).status).toBe(202);
      const { code } = await latestSmsCode(t.url, e164Of(u));
      const answers = await Promise.all(Array.from({ length: 10 }, () => b.post('/user/verify-phone', { code })));
      expect(answers.filter((a) => a.status === 202)).toHaveLength(1);
      expect(answers.filter((a) => a.status >= 500)).toHaveLength(0);
      const token = signupTokenIn(await awaitMail(t.url, u.email, 'Confirm your email address'));
      await new Promise((r) => setTimeout(r, 200));
      expect((await mailTo(t.url, u.email)).filter((m) => m.subject.includes('Confirm'))).toHaveLength(1);
      const clicks = await Promise.all(Array.from({ length: 10 }, () => new Browser(t.url).post('/user/verify-email', { token, password: u.password })));
      expect(clicks.filter((a) => a.status === 201)).toHaveLength(1);
      expect(clicks.filter((a) => a.status !== 201).every((a) => a.status === 400 && a.body.code === 'SIGNUP_LINK_INVALID')).toBe(true);
      const login = await new Browser(t.url).post('/session', { email: u.email, password: u.password });
      expect(login.status).toBe(200);
    });

    it('when a new code is asked for then it waits out the 30 s cool-down, and only the newest code works', async () => {
      const b = new Browser(t.url);
      const u = newUser();
      expect((await b.post('/user', u)).status).toBe(202);
      const first = await latestSmsCode(t.url, e164Of(u));
      const early = await b.post('/user/resend-phone', {});
      expect(early.status).toBe(429);
      expect(early.body.code).toBe('COOL_DOWN');
      expect(Number(early.headers.get('retry-after'))).toBeGreaterThan(0);
      clock.advance(31_000);
      const again = await b.post('/user/resend-phone', {});
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ sent: true, retry_after: 30 });
      const second = await latestSmsCode(t.url, e164Of(u));
      expect(second.count).toBe(first.count + 1);
      if (second.code !== first.code) expect((await b.post('/user/verify-phone', { code: first.code })).status).toBe(400);
      expect((await b.post('/user/verify-phone', { code: second.code })).status).toBe(202);
    });

    it('when the pending signup is older than 10 minutes then its code no longer creates an account', async () => {
      const b = new Browser(t.url);
      const u = newUser();
      expect((await b.post('/user', u)).status).toBe(202);
      const { code } = await latestSmsCode(t.url, e164Of(u));
      clock.advance(10 * 60 * 1000 + 1000);
      const r = await b.post('/user/verify-phone', { code });
      expect(r.status).toBe(401);
      expect(r.body.code).toBe('SIGNUP_EXPIRED');
    });

    /** Threat: a race between two signups with one email creating two accounts or leaking which won. */
    it('when the same email finishes signup concurrently then every answer is the same and exactly one account exists', async () => {
      const email = newUser().email;
      const forms = Array.from({ length: 4 }, () => newUser({ email, password: 'one shared passphrase' }));
      const browsers = forms.map(() => new Browser(t.url));
      for (const [i, b] of browsers.entries()) expect((await b.post('/user', forms[i])).status).toBe(202);
      const codes = await Promise.all(forms.map(async (f) => (await latestSmsCode(t.url, e164Of(f))).code));
      const answers = await Promise.all(browsers.map((b, i) => b.post('/user/verify-phone', { code: codes[i] })));
      expect(answers.map((a) => a.status)).toEqual([202, 202, 202, 202]);
      expect(new Set(answers.map((a) => JSON.stringify({ ...a.body, expires_at: 0 }))).size).toBe(1);
      // Four links to one mailbox: the first opened creates the account, the others say it exists.
      await eventually(async () => (await mailTo(t.url, email)).filter((m) => m.subject.includes('Confirm')).length === 4);
      const links = (await mailTo(t.url, email)).filter((m) => m.subject.includes('Confirm')).map(signupTokenIn);
      const clicks = await Promise.all(links.map((token) => new Browser(t.url).post('/user/verify-email', { token, password: 'one shared passphrase' })));
      expect(clicks.map((c) => c.status).sort()).toEqual([201, 409, 409, 409]);
      for (const c of clicks.filter((x) => x.status === 409)) expect(c.body.code).toBe('EMAIL_TAKEN');
      const rows = await t.system.db.selectFrom('app_users').select('id').where('email', '=', email).execute();
      expect(rows).toHaveLength(1);
    });

    it('when the email is already taken then every step looks like a new signup but nothing is created', async () => {
      const u = newUser();
      const first = new Browser(t.url);
      await signUp(first, u);
      const again = new Browser(t.url);
      const dup = { ...newUser(), email: u.email.toUpperCase(), password: 'another good passphrase' };
      const form = await again.post('/user', dup);
      const fresh = new Browser(t.url);
      const freshForm = await fresh.post('/user', newUser());
      expect(form.status).toBe(freshForm.status);
      expect(Object.keys(form.body).sort()).toEqual(Object.keys(freshForm.body).sort());
      expect(again.signupCookie).toBeDefined();
      const { code } = await latestSmsCode(t.url, e164Of(dup));
      const r = await again.post('/user/verify-phone', { code });
      expect(r.status).toBe(202);
      expect(r.body).toEqual({ state: 'verify_email', email: u.email, retry_after: 30, expires_at: expect.any(Number) });
      expect(again.cookie).toBeUndefined();
      expect((await again.get('/user')).status).toBe(401);
      // The owner's mailbox gets a notice, not a link.
      const notice = await awaitMail(t.url, u.email, 'Someone tried to sign up with your address');
      expect(notice.text).not.toMatch(/https?:\/\//);
      expect((await mailTo(t.url, u.email)).filter((m) => m.subject.includes('Confirm your email address'))).toHaveLength(1);
      // The duplicate's password logs nobody in; the owner's still does.
      expect((await new Browser(t.url).post('/session', { email: u.email, password: dup.password })).status).toBe(401);
      expect((await new Browser(t.url).post('/session', { email: u.email, password: u.password })).status).toBe(200);
      // The real owner sees the attempt.
      const me = await first.get('/user');
      const events = me.body.events as { type: string; outcome: string }[];
      expect(events.some((e) => e.type === 'signup' && e.outcome === 'failure')).toBe(true);
    });
  });

  describe(`signup refusals: each step answers bad input with 4xx {code, message} on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind });
    });
    afterAll(async () => {
      await t?.stop();
    });

    it('when the form is malformed JSON, a JSON string, an array or comes cross-site then 400 MALFORMED_BODY, 400 VALIDATION or 403 CSRF, and no signup starts', async () => {
      const b = new Browser(t.url);
      expectError(await b.post('/user', '{"email":'), 400, 'MALFORMED_BODY', { message: 'Request body is not valid JSON' });
      expectError(await b.post('/user', '"text"'), 400, 'MALFORMED_BODY', { message: 'Request body is not valid JSON' });
      expectError(await b.post('/user', '[1,2]'), 400, 'VALIDATION', { fields: expect.any(Object) });
      expectError(await b.post('/user', newUser(), { origin: 'https://attacker.example' }), 403, 'CSRF', { message: 'Cross-origin request refused' });
      expectError(await b.post('/user', JSON.stringify(newUser()), { 'content-type': 'text/plain' }), 403, 'CSRF');
      expect(b.signupCookie).toBeUndefined();
    });

    it('when GET /user/signup has no live pending signup then 401 SIGNUP_EXPIRED, and with one its state (no-store)', async () => {
      const b = new Browser(t.url);
      expectError(await b.get('/user/signup'), 401, 'SIGNUP_EXPIRED', { message: 'This signup has ended; please fill in the form again' });
      b.signupCookie = `twofold-signup=${'A'.repeat(43)}`;
      expectError(await b.get('/user/signup'), 401, 'SIGNUP_EXPIRED');
      b.signupCookie = undefined;
      expect((await b.post('/user', newUser())).status).toBe(202);
      const r = await b.get('/user/signup');
      expect(r.status).toBe(200);
      expect(r.headers.get('cache-control')).toBe('no-store');
      expect(r.body).toEqual({ state: 'verify_phone', phone: expect.stringContaining('201'), retry_after: 30, attempts_left: 5, expires_at: expect.any(Number) });
    });

    it.each([
      ['no code', {}],
      ['letters', { code: 'abc' }],
      ['5 digits', { code: '12345' }],
      ['11 digits', { code: '12345678901' }],
      ['a number', { code: 123456 }],
      ['an array', { code: ['123456'] }],
      ['40 characters', { code: '1'.repeat(40) }],
    ])('when POST /user/verify-phone has an invalid code (%s) then 400 VALIDATION names the field and no try is spent', async (_what, body) => {
      const b = new Browser(t.url);
      const u = newUser();
      expect((await b.post('/user', u)).status).toBe(202);
      expectError(await b.post('/user/verify-phone', body), 400, 'VALIDATION', { fields: { code: expect.any(String) } });
      expect((await b.get('/user/signup')).body.attempts_left).toBe(5);
      const { code } = await latestSmsCode(t.url, e164Of(u));
      expect((await b.post('/user/verify-phone', { code })).status).toBe(202);
    });

    it('when wrong phone codes are entered then 400 CODE_INVALID counts down attempts_left, and the fifth ends the signup with 403 TOO_MANY_ATTEMPTS and clears its cookie', async () => {
      const b = new Browser(t.url);
      const u = newUser();
      expect((await b.post('/user', u)).status).toBe(202);
      const { code } = await latestSmsCode(t.url, e164Of(u));
      for (const left of [4, 3, 2, 1]) {
        expectError(await b.post('/user/verify-phone', { code: wrong(code) }), 400, 'CODE_INVALID', {
          message: 'That code is not right. Check the text message and try again.',
          attempts_left: left,
        });
      }
      const last = await b.post('/user/verify-phone', { code: wrong(code) });
      expectError(last, 403, 'TOO_MANY_ATTEMPTS', { message: 'Too many wrong codes. Please fill in the form again.' });
      expect(last.headers.getSetCookie().some((c) => c.startsWith('twofold-signup=;'))).toBe(true);
      expect(b.signupCookie).toBeUndefined();
      expectError(await b.get('/user/signup'), 401, 'SIGNUP_EXPIRED');
    });

    it('when the phone\'s code was already used by another signup of that phone then 400 CODE_EXPIRED with attempts_left', async () => {
      const first = newUser();
      const second = newUser({ phone: first.phone });
      const b1 = new Browser(t.url);
      const b2 = new Browser(t.url);
      expect((await b1.post('/user', first)).status).toBe(202);
      expect((await b2.post('/user', second)).status).toBe(202);
      // One live code per phone at the service: the newest, which the first signup now uses up.
      const { code } = await latestSmsCode(t.url, e164Of(first));
      expect((await b1.post('/user/verify-phone', { code })).status).toBe(202);
      expectError(await b2.post('/user/verify-phone', { code }), 400, 'CODE_EXPIRED', {
        message: 'That code has expired or was replaced. Ask for a new code.',
        attempts_left: 4,
      });
      expect((await b2.get('/user/signup')).body.attempts_left).toBe(4);
    });

    it('when resend-phone has no pending signup, a body that is not an object, or comes within the cool-down then 401 SIGNUP_EXPIRED, 400 VALIDATION or 429 COOL_DOWN with retry_after', async () => {
      const b = new Browser(t.url);
      expectError(await b.post('/user/resend-phone', {}), 401, 'SIGNUP_EXPIRED');
      expect((await b.post('/user', newUser())).status).toBe(202);
      expectError(await b.post('/user/resend-phone', [1]), 400, 'VALIDATION', { fields: expect.any(Object) });
      expectError(await b.post('/user/resend-phone', '{"x":'), 400, 'MALFORMED_BODY');
      const early = await b.post('/user/resend-phone', {});
      expectError(early, 429, 'COOL_DOWN', { message: expect.stringMatching(/^Please wait \d+ s before asking for another code$/), retry_after: expect.any(Number) });
      expect(early.body.retry_after).toBeGreaterThan(0);
      expect(early.body.retry_after).toBeLessThanOrEqual(30);
      expect(early.headers.get('retry-after')).toBe(String(early.body.retry_after));
    });
  });

  describe(`signup forms per address (LOGIN_PER_IP_LIMIT an hour) on ${kind}`, () => {
    let t: TestSystem;
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, env: { LOGIN_PER_IP_LIMIT: '2' } });
    });
    afterAll(async () => {
      await t?.stop();
    });

    it('when one address sends more valid forms than LOGIN_PER_IP_LIMIT then 429 RATE_LIMITED with Retry-After, and no code is texted', async () => {
      for (let i = 0; i < 2; i++) expect((await new Browser(t.url).post('/user', newUser())).status).toBe(202);
      const b = new Browser(t.url);
      const u = newUser();
      const r = await b.post('/user', u);
      expectError(r, 429, 'RATE_LIMITED', { message: 'Too many attempts; please wait before trying again', retry_after: expect.any(Number) });
      expect(r.body.retry_after).toBeGreaterThan(0);
      expect(r.headers.get('retry-after')).toBe(String(r.body.retry_after));
      expect(b.signupCookie).toBeUndefined();
      await expect(latestSmsCode(t.url, e164Of(u))).rejects.toThrow('no SMS code');
    });
  });

  describe(`signup's email step (POST /user/verify-email, POST /user/resend-email) on ${kind}`, () => {
    let t: TestSystem;
    const clock = new ManualClock(Date.now());
    beforeAll(async () => {
      t = await startTestSystem({ db: kind, clock });
    });
    afterAll(async () => {
      await t?.stop();
    });

    async function phoneProved() {
      const b = new Browser(t.url);
      const u = newUser();
      expect((await b.post('/user', u)).status).toBe(202);
      const { code } = await latestSmsCode(t.url, e164Of(u));
      expect((await b.post('/user/verify-phone', { code })).status).toBe(202);
      return { b, u, token: signupTokenIn(await awaitMail(t.url, u.email, 'Confirm your email address')) };
    }

    it('when the token is malformed, unknown or the body wrong then 400, and no account appears', async () => {
      const b = new Browser(t.url);
      expectError(await b.post('/user/verify-email', {}), 400, 'VALIDATION', { fields: { token: expect.any(String) } });
      expectError(await b.post('/user/verify-email', { token: 'short' }), 400, 'VALIDATION', { fields: { token: expect.any(String) } });
      expectError(await b.post('/user/verify-email', [1]), 400, 'VALIDATION', { fields: expect.any(Object) });
      expectError(await b.post('/user/verify-email', { token: 'A'.repeat(43) }), 400, 'SIGNUP_LINK_INVALID');
      expectError(await b.post('/user/verify-email', { token: 'A'.repeat(43) }, { origin: 'https://attacker.example' }), 403, 'CSRF');
    });

    it('when the link is asked for again then after the cool-down a new one goes out and only the newest works', async () => {
      const { b, u, token } = await phoneProved();
      expectError(await b.post('/user/resend-email', {}), 429, 'COOL_DOWN', { retry_after: expect.any(Number) });
      clock.advance(31_000);
      expect(await b.post('/user/resend-email', {})).toMatchObject({ status: 200, body: { sent: true, via: 'email', retry_after: 30 } });
      const newer = signupTokenIn(await awaitMail(t.url, u.email, 'Confirm your email address', 2));
      expect(newer).not.toBe(token);
      expectError(await new Browser(t.url).post('/user/verify-email', { token }), 400, 'SIGNUP_LINK_INVALID');
      expect((await b.post('/user/verify-email', { token: newer })).status).toBe(201);
    });

    it('when one address is mailed more than MAIL_PER_ADDRESS_LIMIT (3) signup mails in an hour then the rest are dropped, the answers unchanged', async () => {
      const email = `capped-${Date.now()}@example.com`;
      for (let i = 0; i < 4; i++) {
        const b = new Browser(t.url);
        const u = newUser({ email });
        expect((await b.post('/user', u)).status).toBe(202);
        const { code } = await latestSmsCode(t.url, e164Of(u));
        expect((await b.post('/user/verify-phone', { code })).status).toBe(202);
      }
      await awaitMail(t.url, email, 'Confirm your email address', 3);
      await eventually(async () => t.logs.some((l) => l.includes('signup mail dropped')));
      expect((await mailTo(t.url, email)).filter((m) => m.subject.includes('Confirm'))).toHaveLength(3);
    });

    it('when the phone is proved then resend-phone is refused 409', async () => {
      const { b } = await phoneProved();
      clock.advance(31_000);
      expectError(await b.post('/user/resend-phone', {}), 409, 'ALREADY_COMPLETED');
    });

    it('when the phone is not proved yet then resend-email is refused, and without a signup 401', async () => {
      const b = new Browser(t.url);
      expectError(await b.post('/user/resend-email', {}), 401, 'SIGNUP_EXPIRED');
      expect((await b.post('/user', newUser())).status).toBe(202);
      expectError(await b.post('/user/resend-email', {}), 409, 'PHONE_NOT_CONFIRMED');
    });

    it('when the link is opened after 24 hours then it is refused and nothing is created', async () => {
      const { u, token } = await phoneProved();
      clock.advance(24 * 3600_000 + 1000);
      expectError(await new Browser(t.url).post('/user/verify-email', { token }), 400, 'SIGNUP_LINK_INVALID');
      expect((await new Browser(t.url).post('/session', { email: u.email, password: u.password })).status).toBe(401);
    });
  });
});
