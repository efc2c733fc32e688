import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startTestSystem, type TestSystem } from '../test/helpers/system.js';
import { codeIn, completeSignup, fillSignup, launchChromium, newPerson, Shots, smsTo, watchPage } from './helpers.js';

/**
 * The tutorial's flows end to end in real Chromium: the SPA in one browser context (a 375 px wide
 * phone-sized window) and the authenticator PWA in another, against the whole system on SQLite.
 */
describe('Twofold in Chromium', () => {
  let t: TestSystem;
  let browser: Browser;
  let pwaContext: BrowserContext;
  let pwa: Page;
  const viewport = { width: 375, height: 800 };

  const person = newPerson;
  const withDevice = person('Grace Hopper');

  beforeAll(async () => {
    t = await startTestSystem({ db: 'sqlite' });
    browser = await launchChromium();
  });
  afterAll(async () => {
    expect(problems).toEqual([]);
    await browser?.close();
    await t?.stop();
  });

  /** Script errors and CSP violations seen in any page (4xx resource loads are expected answers). */
  const problems: string[] = [];
  const watch = (page: Page): Page => watchPage(page, problems);

  async function newPage(): Promise<{ ctx: BrowserContext; page: Page }> {
    const ctx = await browser.newContext({ viewport });
    const page = watch(await ctx.newPage());
    return { ctx, page };
  }

  async function signUp(page: Page, shots: Shots, p: ReturnType<typeof person>) {
    await page.goto(`${t.url}/`);
    await shots.take(page, 'home');
    await page.getByRole('link', { name: 'Create an account' }).click();
    await fillSignup(page, p);
    await shots.take(page, 'signup');
    await completeSignup(page, t.url, p, shots);
    await shots.take(page, 'account');
  }

  async function logIn(page: Page, p: ReturnType<typeof person>) {
    await page.getByLabel('Email').fill(p.email);
    await page.getByLabel('Password').fill(p.password);
    await page.getByRole('button', { name: 'Log in' }).click();
  }

  async function logOut(page: Page) {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL('**/login');
  }

  it('when a user without an authenticator signs up, logs out and logs in then the SMS code opens the user page', async () => {
    const shots = new Shots('1 signup sms login');
    const p = person('Ada Lovelace');
    const { ctx, page } = await newPage();
    await signUp(page, shots, p);
    await logOut(page);
    await shots.take(page, 'logged-out');
    await logIn(page, p);
    await page.waitForURL('**/login/code');
    const input = page.getByLabel('Verification code');
    await expect.poll(() => input.getAttribute('autocomplete')).toBe('one-time-code');
    expect(await input.getAttribute('inputmode')).toBe('numeric');
    expect(await page.evaluate<string | undefined>('document.activeElement?.id')).toBe('f-code');
    await shots.take(page, 'code-entry');
    const [sms] = await smsTo(t.url, p.e164);
    expect(sms).toBeDefined();
    await input.fill(codeIn(sms!.body));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL('**/account');
    await page.getByRole('heading', { name: `Hello, ${p.name}` }).waitFor();
    await page.getByText(/Second step passed with a code from a text message\./).first().waitFor();
    await shots.take(page, 'account');
    // Readable at 375 px: nothing wider than the viewport.
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(375);
    await ctx.close();
  });

  it('when the PWA is activated and approves with the number then the waiting page reaches the user page without reload or polling', async () => {
    const shots = new Shots('2 pwa approve');
    const { ctx, page } = await newPage();
    await signUp(page, shots, withDevice);
    await page.evaluate("window.__noReload = 'same page'");
    await page.getByRole('button', { name: 'Add authenticator' }).click();
    const link = await page.getByTestId('activation-link').getAttribute('href');
    expect(link).toContain('/authenticator/#activate=');
    await page.locator('img.qr').waitFor();
    await shots.take(page, 'activation-link');

    pwaContext = await browser.newContext({ viewport });
    pwa = watch(await pwaContext.newPage());
    await pwa.goto(link!);
    await pwa.getByRole('heading', { name: 'Activate this authenticator' }).waitFor();
    await shots.take(pwa, 'pwa-activate');
    await pwa.getByLabel('Name for this authenticator').fill('My test phone');
    await pwa.getByRole('button', { name: 'Activate' }).click();
    await pwa.getByRole('heading', { name: 'My test phone' }).waitFor();
    await expect.poll(() => pwa.getByTestId('totp-code').getAttribute('data-code')).toMatch(/^\d{6}$/);
    await pwa.getByText('● Connected').waitFor();
    await shots.take(pwa, 'pwa-ready');
    // The key is in IndexedDB and its private half cannot be exported.
    const extractable = await pwa.evaluate<boolean | string>(`new Promise((resolve) => {
      const r = indexedDB.open('twofold-authenticator', 1);
      r.onsuccess = () => {
        const g = r.result.transaction('kv').objectStore('kv').get('device');
        g.onsuccess = () => resolve(g.result.keyPair.privateKey.extractable);
      };
      r.onerror = () => resolve('no db');
    })`);
    expect(extractable).toBe(false);

    // The user page sees the new authenticator by itself (it polls while the QR is shown).
    await page.getByRole('button', { name: 'Remove My test phone' }).waitFor({ timeout: 10_000 });
    await page.getByText('“My test phone” is set up and listed above.').waitFor();
    expect(await page.locator('img.qr').count()).toBe(0);
    expect(await page.getByText('Not set up').count()).toBe(0);
    expect(await page.evaluate<string | undefined>('window.__noReload')).toBe('same page');
    await shots.take(page, 'account-with-device');
    await logOut(page);

    // Watch the first page from here on: documents loaded and /authy/status requests.
    const documents: string[] = [];
    const statusRequests: { accept: string }[] = [];
    page.on('request', (r) => {
      if (r.resourceType() === 'document') documents.push(r.url());
      if (new URL(r.url()).pathname === '/authy/status') statusRequests.push({ accept: r.headers()['accept'] ?? '' });
    });
    await page.evaluate("window.__twofoldMarker = 'still here'");
    await logIn(page, withDevice);
    await page.waitForURL('**/login/approve');
    const number = (await page.getByTestId('match-number').textContent())!.trim();
    expect(number).toMatch(/^\d{2}$/);
    await page.getByText('Chrome on Linux').waitFor();
    await shots.take(page, 'approve-on-phone');

    const card = pwa.locator('article.request');
    await card.getByRole('heading', { name: 'Request to log in to Twofold Demo' }).waitFor();
    await card.getByText(withDevice.email).waitFor();
    await shots.take(pwa, 'pwa-request');
    for (const digit of number) await card.getByRole('button', { name: digit, exact: true }).click();
    expect(await card.locator('.number-input').inputValue()).toBe(number);
    await shots.take(pwa, 'pwa-number-entered');
    const started = Date.now();
    await card.getByRole('button', { name: 'Approve' }).click();

    await page.waitForURL('**/account');
    await page.getByRole('heading', { name: `Hello, ${withDevice.name}` }).waitFor();
    const reachedMs = Date.now() - started;
    await shots.take(page, 'account-after-approval');
    await pwa.getByText(/Approved/).waitFor();
    await shots.take(pwa, 'pwa-approved');

    expect(await page.evaluate<string | undefined>('window.__twofoldMarker')).toBe('still here');
    expect(documents).toEqual([]);
    expect(statusRequests).toHaveLength(1);
    expect(statusRequests[0]!.accept).toContain('text/event-stream');
    console.log(`approval → user page in ${reachedMs} ms`);
    await ctx.close();
  });

  it('when the PWA denies then the page moves to code entry with a message, and the PWA TOTP code logs in', async () => {
    const shots = new Shots('3 pwa deny totp');
    const { ctx, page } = await newPage();
    await page.goto(`${t.url}/login`);
    await shots.take(page, 'login');
    await logIn(page, withDevice);
    await page.waitForURL('**/login/approve');
    await shots.take(page, 'approve-on-phone');
    const card = pwa.locator('article.request');
    await card.getByRole('heading', { name: /Request to log in/ }).waitFor();
    await shots.take(pwa, 'pwa-request');
    await card.getByRole('button', { name: 'Deny' }).click();
    await pwa.getByText(/Denied/).waitFor();
    await shots.take(pwa, 'pwa-denied');

    await page.waitForURL('**/login/code');
    await page.getByRole('alert').filter({ hasText: 'denied on your phone' }).waitFor();
    await shots.take(page, 'code-entry-after-deny');
    const code = await pwa.getByTestId('totp-code').getAttribute('data-code');
    await page.getByLabel('Verification code').fill(code!);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL('**/account');
    await page.getByRole('heading', { name: `Hello, ${withDevice.name}` }).waitFor();
    await shots.take(page, 'account');
    await ctx.close();
  });

  it('when a wrong code is entered then a message shows and the page stays; resend puts a new SMS in the outbox', async () => {
    const shots = new Shots('4 wrong code resend');
    const { ctx, page } = await newPage();
    await page.goto(`${t.url}/login`);
    await logIn(page, withDevice);
    await page.waitForURL('**/login/approve');
    await shots.take(page, 'approve-on-phone');
    await page.getByRole('button', { name: 'Use a code instead' }).click();
    await page.waitForURL('**/login/code');
    await shots.take(page, 'code-entry');
    const current = await pwa.getByTestId('totp-code').getAttribute('data-code');
    const wrong = current === '123456' ? '654321' : '123456';
    await page.getByLabel('Verification code').fill(wrong);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByText(/That code is not right.*4 tries left/).waitFor();
    expect(new URL(page.url()).pathname).toBe('/login/code');
    expect(await page.evaluate<string | undefined>('document.activeElement?.id')).toBe('f-code');
    await shots.take(page, 'wrong-code');

    const before = (await smsTo(t.url, withDevice.e164)).length;
    await page.getByRole('button', { name: 'Text me a code' }).click();
    await page.getByText('We sent a new code by text message.').waitFor();
    await page.getByText(/You can ask for another code in \d+ s/).waitFor();
    expect(await page.getByRole('button', { name: 'Resend code' }).isDisabled()).toBe(true);
    const after = await smsTo(t.url, withDevice.e164);
    expect(after.length).toBe(before + 1);
    await shots.take(page, 'resent');
    await page.getByLabel('Verification code').fill(codeIn(after[0]!.body));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL('**/account');
    await shots.take(page, 'account');
    await ctx.close();
  });

  it('when the user page sets up a third-party TOTP app and adds then removes an authenticator then the list shows each of them', async () => {
    const shots = new Shots('5 user page totp app revoke');
    const p = person('Katherine Johnson');
    const { ctx, page } = await newPage();
    await signUp(page, shots, p);
    await page.getByText(/No authenticator yet\. Logins use a code texted to/).waitFor();
    await page.getByRole('button', { name: 'Use another authenticator app' }).click();
    await page.getByAltText('QR code for your authenticator app').waitFor();
    const secret = (await page.getByTestId('totp-secret').textContent())!.replace(/\s+/g, '');
    expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
    await page.getByText('Show the setup link').click();
    const uri = (await page.getByTestId('totp-uri').textContent())!;
    expect(new URL(uri).searchParams.get('secret')).toBe(secret);
    await shots.take(page, 'totp-app-qr');
    // A real third-party implementation computes the code: oathtool.
    const code = execFileSync('oathtool', ['--totp', '-b', secret], { encoding: 'utf8' }).trim();
    await page.getByLabel('Code shown by the app').fill(code);
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('Your authenticator app is set up and listed above.').waitFor();
    const appRemove = page.getByRole('button', { name: `Remove Authenticator app (${p.email})` });
    await appRemove.waitFor();
    expect(await page.getByText('Not set up').count()).toBe(0);
    await shots.take(page, 'totp-app-confirmed');

    await page.getByRole('button', { name: 'Add authenticator' }).click();
    const link = (await page.getByTestId('activation-link').getAttribute('href'))!;
    const other = await browser.newContext({ viewport });
    const phone = watch(await other.newPage());
    await phone.goto(link);
    await phone.getByRole('button', { name: 'Activate' }).click();
    await phone.getByText('● Connected').waitFor();
    // No reload: the page finds the new authenticator itself.
    const remove = page.getByRole('button', { name: /^Remove Browser on/ });
    await remove.waitFor({ timeout: 10_000 });
    expect(await page.getByTestId('factor').count()).toBe(2);
    await shots.take(page, 'with-device-and-app');
    page.once('dialog', (d) => void d.accept());
    await remove.click();
    await page.getByText(/was removed\. It can no longer approve logins/).waitFor();
    await expect.poll(() => page.getByTestId('factor').count()).toBe(1);
    await page.getByText(/An authenticator was removed\./).first().waitFor();
    await shots.take(page, 'device-removed');
    // The revoked device is refused at once: its stream drops and cannot reconnect.
    await phone.getByText('○ Offline').waitFor({ timeout: 10_000 });
    await shots.take(phone, 'pwa-revoked');

    // The app's own key goes too: its codes stop working and the list is empty.
    page.once('dialog', (d) => void d.accept());
    await appRemove.click();
    await page.getByText(/was removed\. Its codes no longer work\./).waitFor();
    await page.getByText(/No authenticator yet\./).waitFor();
    expect(await page.getByText(/is set up and listed above/).count()).toBe(0);
    await shots.take(page, 'app-removed');
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(375);
    await other.close();
    await ctx.close();
  });
});
