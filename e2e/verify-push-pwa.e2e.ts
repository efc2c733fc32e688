import { randomUUID } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSystem, type TestSystem } from '../test/helpers/system.js';
import { builtinVerifyClient, type VerifyClient } from '../test/helpers/twilio-verify.js';
import { FakePushService, FakeSubscriber } from '../test/onetouch/fake-push-service.js';
import { launchChromium, Shots, watchPage } from './helpers.js';

/**
 * The authenticator PWA as the Verify Push SDK, in real Chromium: the app (the real `twilio`
 * package) makes a service and an access token and hands its user the enrolment link
 * (/authenticator/#verify-push?service=…&identity=…&token=…&name=…); the PWA makes a
 * non-extractable P-256 key, creates and verifies the factor, shows the app's challenges (message
 * and fields as text) and approves or denies them with that key. The app sees every outcome.
 */

/** What the page's IndexedDB holds for a factor's keys, read in the page (this tsconfig has no DOM library). */
const READ_STORED_KEY = `(async () => {
  const db = await new Promise((ok, ko) => { const r = indexedDB.open('twofold-authenticator'); r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error); });
  const all = await new Promise((ok, ko) => { const r = db.transaction('kv').objectStore('kv').getAll(IDBKeyRange.bound('verify-push:', 'verify-push:\\uffff')); r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error); });
  db.close();
  const f = all[0];
  let exported = 'refused';
  try { await crypto.subtle.exportKey('pkcs8', f.keyPair.privateKey); exported = 'exported'; } catch (e) { exported = e.name; }
  return { count: all.length, factorSid: f.factorSid, isCryptoKey: f.keyPair.privateKey instanceof CryptoKey, extractable: f.keyPair.privateKey.extractable,
    algorithm: f.keyPair.privateKey.algorithm, usages: f.keyPair.privateKey.usages, exported };
})()`;

describe('the authenticator PWA as a Verify push device in Chromium', () => {
  let t: TestSystem;
  let client: VerifyClient;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    t = await startTestSystem({ db: 'sqlite' });
    ({ client } = await builtinVerifyClient(t));
    browser = await launchChromium();
    const ctx = await browser.newContext({ viewport: { width: 375, height: 800 } });
    page = watchPage(await ctx.newPage(), problems);
    page.on('dialog', (d) => void d.accept());
  });
  afterAll(async () => {
    await browser?.close();
    await t?.stop();
  });

  const linkFor = (service: string, identity: string, token: string, name?: string) =>
    `${t.url}/authenticator/#verify-push?${new URLSearchParams({ service, identity, token, ...(name ? { name } : {}) }).toString()}`;

  it('when the app\'s enrolment link is opened then the PWA enrols a verified factor with a non-extractable key and its Approve and Deny reach the app', async () => {
    const shots = new Shots('verify push pwa');
    const svc = await client.verify.v2.services.create({ friendlyName: 'Acme Push' });
    const identity = randomUUID();
    const tok = await client.verify.v2.services(svc.sid).accessTokens.create({ identity, factorType: 'push', ttl: 120 });

    await page.goto(linkFor(svc.sid, identity, tok.token, 'Ada browser'));
    await page.getByRole('heading', { name: 'Add a push factor' }).waitFor();
    expect(await page.getByLabel('Service SID').inputValue()).toBe(svc.sid);
    expect(await page.getByLabel('Identity').inputValue()).toBe(identity);
    await shots.take(page, 'enrol-from-link');
    await page.getByRole('button', { name: 'Add push factor' }).click();

    const factorCard = page.locator('article.factor');
    await factorCard.waitFor();
    await page.getByText(`Push factor “Ada browser” added for ${identity}`).waitFor();
    // The token left the address bar with the enrolment.
    expect(page.url()).toBe(`${t.url}/authenticator/`);
    expect(await factorCard.locator('h3').textContent()).toBe('Ada browser');
    expect(await factorCard.locator('dd').allTextContents()).toEqual([svc.sid, identity, expect.stringMatching(/^YF[0-9a-f]{32}$/)]);

    const factors = await client.verify.v2.services(svc.sid).entities(identity).factors.list();
    expect(factors).toHaveLength(1);
    const f = factors[0]!;
    expect(f).toMatchObject({ factorType: 'push', status: 'verified', friendlyName: 'Ada browser', config: { sdk_version: 'twofold-pwa-1', app_id: 'dev.twofold.authenticator.pwa', notification_platform: 'none' } });

    // The private key is a CryptoKey the page cannot export: it never leaves the browser's key store.
    expect(await page.evaluate(READ_STORED_KEY)).toEqual({
      count: 1,
      factorSid: f.sid,
      isCryptoKey: true,
      extractable: false,
      algorithm: { name: 'ECDSA', namedCurve: 'P-256' },
      usages: ['sign'],
      exported: 'InvalidAccessError',
    });

    const ch = await client.verify.v2.services(svc.sid).entities(identity).challenges.create({
      factorSid: f.sid,
      'details.message': 'Log in to Acme <b>now</b>',
      'details.fields': [{ label: 'IP', value: '203.0.113.9' }, { label: 'Browser', value: '<img src=x onerror=alert(1)>' }],
      hiddenDetails: { session: 's-secret-1' },
    });
    const card = page.locator(`article[data-challenge="${ch.sid}"]`);
    await card.waitFor({ timeout: 15_000 });
    // The app's text is shown as text: no element is made of it.
    expect(await card.locator('h3').textContent()).toBe('Log in to Acme <b>now</b>');
    expect(await card.locator('dt').allTextContents()).toEqual(['IP', 'Browser']);
    expect(await card.locator('dd').allTextContents()).toEqual(['203.0.113.9', '<img src=x onerror=alert(1)>']);
    expect(await card.locator('b, img').count()).toBe(0);
    expect(await page.content()).not.toContain('s-secret-1');
    await shots.take(page, 'challenge-shown');

    await card.getByRole('button', { name: 'Approve' }).click();
    await card.getByTestId('challenge-result').getByText('Approved').waitFor();
    expect(await card.getByRole('button', { name: 'Approve' }).count()).toBe(0);
    expect((await client.verify.v2.services(svc.sid).entities(identity).challenges(ch.sid).fetch()).status).toBe('approved');
    await shots.take(page, 'challenge-approved');

    const other = await client.verify.v2.services(svc.sid).entities(identity).challenges.create({ factorSid: f.sid, 'details.message': 'Pay 500 EUR to Mallory' });
    const otherCard = page.locator(`article[data-challenge="${other.sid}"]`);
    await otherCard.waitFor({ timeout: 15_000 });
    await otherCard.getByRole('button', { name: 'Deny' }).click();
    await otherCard.getByTestId('challenge-result').getByText('Denied').waitFor();
    const after = await client.verify.v2.services(svc.sid).entities(identity).challenges(other.sid).fetch();
    expect(after.status).toBe('denied');
    expect(after.dateResponded).toBeInstanceOf(Date);
    // The answered card stays, with its result, while polling goes on.
    await page.waitForTimeout(3500);
    expect(await card.getByTestId('challenge-result').textContent()).toContain('Approved');
    await shots.take(page, 'challenge-denied');
    expect(problems).toEqual([]);
  });

  it('when the fields are pasted in the form then the factor is enrolled, a used token is refused in words, and removing it keeps it at the service', async () => {
    const svc = await client.verify.v2.services.create({ friendlyName: 'Acme Form' });
    const identity = randomUUID();
    const tok = await client.verify.v2.services(svc.sid).accessTokens.create({ identity, factorType: 'push', factorFriendlyName: 'Work browser' });

    await page.goto(`${t.url}/authenticator/#verify-push`);
    await page.getByLabel('Service SID').fill(svc.sid);
    await page.getByLabel('Identity').fill(identity);
    await page.getByLabel('Access token').fill(tok.token);
    await page.getByRole('button', { name: 'Add push factor' }).click();
    const card = page.locator('article.factor[aria-label="Work browser"]');
    await card.waitFor();
    const [f] = await client.verify.v2.services(svc.sid).entities(identity).factors.list();
    expect(f).toMatchObject({ status: 'verified', friendlyName: 'Work browser' });

    // The same token again (a pasted link this time): used, so refused, and said so.
    await page.goto(`${t.url}/authenticator/#verify-push`);
    await page.getByLabel('Link from the app').fill(linkFor(svc.sid, identity, tok.token));
    expect(await page.getByLabel('Access token').inputValue()).toBe(tok.token);
    await page.getByRole('button', { name: 'Add push factor' }).click();
    await page.getByText('The access token was refused').waitFor();
    // A link for another origin is not followed.
    await page.getByLabel('Link from the app').fill(`https://elsewhere.example/authenticator/#verify-push?service=${svc.sid}&identity=${identity}&token=${tok.token}`);
    await page.getByText('This link is for the Twofold service at https://elsewhere.example').waitFor();
    await page.getByRole('button', { name: 'Cancel' }).click();

    await card.getByRole('button', { name: 'Remove from this browser' }).click();
    await page.getByText('It stays registered at the service until the app deletes it.').waitFor();
    expect(await page.locator('article.factor[aria-label="Work browser"]').count()).toBe(0);
    expect(await page.locator('article.factor').count()).toBe(1);
    expect((await client.verify.v2.services(svc.sid).entities(identity).factors.list()).map((x) => x.sid)).toEqual([f!.sid]);
    expect(problems).toEqual([]);
  });

  it('when notifications are allowed then the PWA registers its push subscription for the new factor, a challenge is pushed to it, and its notification leads to the factor', async () => {
    // Headless Chromium has no push service (see pwa-push.e2e.ts): the page's PushManager hands out
    // a subscription of a local fake push service instead; all the rest is the PWA's own code.
    const push = new FakePushService();
    await push.start();
    push.trustInThisProcess();
    const sub = new FakeSubscriber(push);
    const ctx = await browser.newContext({ viewport: { width: 375, height: 800 } });
    await ctx.grantPermissions(['notifications'], { origin: t.url });
    await ctx.addInitScript((json) => {
      const w = globalThis as unknown as { PushManager?: { prototype: Record<string, unknown> }; __sub?: unknown };
      if (!w.PushManager) return;
      w.PushManager.prototype['getSubscription'] = async () => w.__sub ?? null;
      w.PushManager.prototype['subscribe'] = async (o: { applicationServerKey: unknown }) =>
        (w.__sub = { endpoint: json.endpoint, options: { applicationServerKey: o.applicationServerKey }, toJSON: () => json, unsubscribe: async () => true });
    }, sub.json());
    const p2 = watchPage(await ctx.newPage(), problems);
    try {
      const svc = await client.verify.v2.services.create({ friendlyName: 'Acme Notify' });
      const identity = randomUUID();
      const tok = await client.verify.v2.services(svc.sid).accessTokens.create({ identity, factorType: 'push', ttl: 120 });
      await p2.goto(linkFor(svc.sid, identity, tok.token, 'Notified browser'));
      await p2.getByRole('button', { name: 'Add push factor' }).click();
      await p2.getByText('Requests from the app appear here and as notifications.', { exact: false }).waitFor();
      const [f] = await client.verify.v2.services(svc.sid).entities(identity).factors.list();
      const rows = await t.system.db.selectFrom('verify_v2_push_subscriptions').selectAll().where('factor_sid', '=', f!.sid).execute();
      expect(rows).toHaveLength(1);

      const ch = await client.verify.v2.services(svc.sid).entities(identity).challenges.create({ factorSid: f!.sid, 'details.message': 'Log in to Acme', hiddenDetails: { session: 's-hidden-9' } });
      for (const end = Date.now() + 5000; push.to(sub.path).length === 0 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 50));
      const got = push.to(sub.path);
      expect(got).toHaveLength(1);
      const payload = sub.decrypt(got[0]!.body);
      expect(JSON.parse(payload)).toEqual({ type: 'verify_challenge', service_sid: svc.sid, factor_sid: f!.sid, challenge_sid: ch.sid, message: 'Log in to Acme' });

      // The push handed to the service worker (as pwa-push.e2e.ts does) becomes a notification tagged with the challenge.
      const cdp = await ctx.newCDPSession(p2);
      const registrationId = await new Promise<string>((resolve) => {
        cdp.on('ServiceWorker.workerRegistrationUpdated', (e: { registrations: { registrationId: string; scopeURL: string; isDeleted: boolean }[] }) => {
          const r = e.registrations.find((x) => x.scopeURL === `${t.url}/authenticator/` && !x.isDeleted);
          if (r) resolve(r.registrationId);
        });
        void cdp.send('ServiceWorker.enable');
      });
      await cdp.send('ServiceWorker.deliverPushMessage', { origin: t.url, registrationId, data: payload });
      const read = () =>
        p2.evaluate(async (tag) => {
          const nav = (globalThis as unknown as { navigator: { serviceWorker: { ready: Promise<{ getNotifications(o: { tag: string }): Promise<{ title: string; body: string; data: unknown }[]> }> } } }).navigator;
          const [n] = await (await nav.serviceWorker.ready).getNotifications({ tag });
          return n ? { title: n.title, body: n.body, data: n.data } : null;
        }, ch.sid);
      let shown = await read();
      for (const end = Date.now() + 10_000; !shown && Date.now() < end; ) {
        await new Promise((r) => setTimeout(r, 100));
        shown = await read();
      }
      expect(shown).toEqual({ title: 'Log in to Acme', body: 'Tap to approve or deny', data: { type: 'verify_challenge', factor_sid: f!.sid, challenge_sid: ch.sid, message: 'Log in to Acme' } });

      // Where a tap leads: the factor's card, focused, with the challenge in it.
      await p2.goto(`${t.url}/authenticator/#factor=${f!.sid}`);
      const card = p2.locator(`article.factor.focused[data-factor="${f!.sid}"]`);
      await card.waitFor();
      await card.locator(`article[data-challenge="${ch.sid}"]`).waitFor({ timeout: 15_000 });

      // The service dropped the subscription (its push service said gone): the next start of the PWA registers the browser's current one again.
      await t.system.db.deleteFrom('verify_v2_push_subscriptions').where('factor_sid', '=', f!.sid).execute();
      await p2.goto(`${t.url}/authenticator/`);
      let again: unknown[] = [];
      for (const end = Date.now() + 5000; again.length === 0 && Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
        again = await t.system.db.selectFrom('verify_v2_push_subscriptions').select('factor_sid').where('factor_sid', '=', f!.sid).execute();
      }
      expect(again).toHaveLength(1);
      expect(problems).toEqual([]);
    } finally {
      await ctx.close();
      await push.stop();
    }
  });
});
