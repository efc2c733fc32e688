import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startTestSystem, type TestSystem } from '../test/helpers/system.js';
import { codeIn, completeSignup, fillSignup, launchChromium, nextSms, Shots, smsTo, watchPage } from './helpers.js';

/** The account page's sessions list, in real Chromium: two browsers, one ends the other. */
describe('Sessions in Chromium', () => {
  let t: TestSystem;
  let browser: Browser;
  const viewport = { width: 375, height: 900 };
  const problems: string[] = [];

  beforeAll(async () => {
    t = await startTestSystem({ db: 'sqlite' });
    browser = await launchChromium();
  });
  afterAll(async () => {
    expect(problems).toEqual([]);
    await browser?.close();
    await t?.stop();
  });

  const watch = (page: Page): Page => watchPage(page, problems);

  it('when a user logged in on two browsers ends the other one from the account page then that browser is sent to log in', async () => {
    const shots = new Shots('account sessions');
    const tag = randomBytes(3).toString('hex');
    const p = { name: 'Mary Jackson', email: `mary.${tag}@example.com`, password: `wind tunnel ${tag}`, phone: `201555${String(parseInt(tag, 16) % 10_000).padStart(4, '0')}` };
    const e164 = `+1${p.phone}`;
    const first = await browser.newContext({ viewport });
    const a = watch(await first.newPage());
    await a.goto(`${t.url}/signup`);
    await fillSignup(a, p);
    await completeSignup(a, t.url, p);

    const second = await browser.newContext({ viewport, userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0' });
    const b = watch(await second.newPage());
    await b.goto(`${t.url}/login`);
    const before = (await smsTo(t.url, e164)).length;
    await b.getByLabel('Email').fill(p.email);
    await b.getByLabel('Password').fill(p.password);
    await b.getByRole('button', { name: 'Log in' }).click();
    await b.waitForURL('**/login/code');
    await b.getByLabel('Verification code').fill(codeIn(await nextSms(t.url, e164, before)));
    await b.getByRole('button', { name: 'Verify' }).click();
    await b.waitForURL('**/account');

    await a.reload();
    const sessions = a.getByTestId('sessions');
    await expect.poll(() => sessions.locator('li').count()).toBe(2);
    expect(await sessions.locator('li[data-current="true"]').textContent()).toContain('(this browser)');
    expect(await sessions.locator('li[data-current="false"]').textContent()).toContain('Firefox on Windows');
    await a.getByRole('heading', { name: 'Sessions' }).scrollIntoViewIfNeeded();
    await shots.take(a, 'two-sessions');
    await sessions.getByRole('button', { name: /^End session: Firefox on Windows/ }).click();
    await a.getByText('The session in Firefox on Windows was ended.').waitFor();
    await expect.poll(() => sessions.locator('li').count()).toBe(1);
    await shots.take(a, 'one-session');

    await b.reload();
    await b.waitForURL('**/login');
    await b.getByText('Please log in.').waitFor();
    expect(await a.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(viewport.width);
    await first.close();
    await second.close();
  });

  it('when a user ticks "Don\u2019t ask again on this browser" then the next login is the password alone, until the browser is forgotten on the account page', async () => {
    const shots = new Shots('remembered browser');
    const tag = randomBytes(3).toString('hex');
    const p = { name: 'Dorothy Vaughan', email: `dorothy.${tag}@example.com`, password: `fortran ${tag} deck`, phone: `201555${String(parseInt(tag, 16) % 10_000).padStart(4, '0')}` };
    const e164 = `+1${p.phone}`;
    const ctx = await browser.newContext({ viewport });
    const page = watch(await ctx.newPage());
    await page.goto(`${t.url}/signup`);
    await fillSignup(page, p);
    await completeSignup(page, t.url, p);
    const logOut = async () => {
      await page.getByRole('button', { name: 'Log out' }).last().click();
      await page.waitForURL('**/login');
    };
    const password = async () => {
      await page.getByLabel('Email').fill(p.email);
      await page.getByLabel('Password').fill(p.password);
      await page.getByRole('button', { name: 'Log in' }).click();
    };
    await logOut();

    const before = (await smsTo(t.url, e164)).length;
    await password();
    await page.waitForURL('**/login/code');
    await page.getByLabel('Verification code').fill(codeIn(await nextSms(t.url, e164, before)));
    await page.getByLabel('Don\u2019t ask again on this browser for 30 days').check();
    await shots.take(page, 'code-with-remember');
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL('**/account');
    await logOut();

    // The password alone now.
    await password();
    await page.waitForURL('**/account');
    await page.getByRole('heading', { name: `Hello, ${p.name}` }).waitFor();
    const remembered = page.getByTestId('remembered-browsers');
    await expect.poll(() => remembered.locator('li').count()).toBe(1);
    await page.getByRole('heading', { name: 'Browsers that skip the second step' }).scrollIntoViewIfNeeded();
    await shots.take(page, 'remembered-listed');
    await remembered.getByRole('button', { name: /^Forget / }).click();
    await page.getByText('will ask for the second step again.').waitFor();
    await expect.poll(() => page.getByRole('heading', { name: 'Browsers that skip the second step' }).isVisible()).toBe(false);
    await logOut();

    const again = (await smsTo(t.url, e164)).length;
    await password();
    await page.waitForURL('**/login/code');
    await nextSms(t.url, e164, again);
    await shots.take(page, 'asked-again');
    await ctx.close();
  });
});
