import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { TestDevice } from '../test/app/helpers.js';
import { startTestSystem, type TestSystem } from '../test/helpers/system.js';
import { completeSignup, fillSignup, launchChromium, Shots, watchPage } from './helpers.js';

/**
 * A user who lost their phone: recovery codes generated on the user page, then a login with one of
 * them instead of the second factor, in real Chromium at 375 px.
 */
describe('Recovery codes in Chromium', () => {
  let t: TestSystem;
  let browser: Browser;
  const viewport = { width: 375, height: 800 };
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

  const fitsWidth = async (page: Page) => expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(viewport.width);

  it('when a user saves recovery codes, logs out and logs in with one then the user page shows 9 left', async () => {
    const shots = new Shots('recovery codes');
    const tag = randomBytes(3).toString('hex');
    const p = { name: 'Katherine Johnson', email: `katherine.${tag}@example.com`, password: `orbit and ${tag} math`, phone: `201555${String(parseInt(tag, 16) % 10_000).padStart(4, '0')}` };
    const ctx = await browser.newContext({ viewport, acceptDownloads: true });
    const page = watch(await ctx.newPage());

    // Sign up.
    await page.goto(`${t.url}/signup`);
    await fillSignup(page, p);
    await completeSignup(page, t.url, p);
    await page.getByRole('heading', { name: 'Recovery codes' }).waitFor();
    expect(await page.getByTestId('recovery-status').textContent()).toContain('no recovery codes yet');
    await shots.take(page, 'account-before');

    // Generate: ten codes shown once, downloadable.
    await page.getByRole('button', { name: 'Generate recovery codes' }).click();
    const items = page.getByTestId('recovery-code');
    await expect.poll(() => items.count()).toBe(10);
    const first = await items.allTextContents();
    for (const c of first) expect(c).toMatch(/^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$/);
    expect(await page.getByTestId('recovery-status').textContent()).toContain('10 of 10');
    await shots.take(page, 'codes-generated');
    await fitsWidth(page);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download .txt' }).click()]);
    expect(download.suggestedFilename()).toBe('twofold-recovery-codes.txt');
    const saved = readFileSync((await download.path())!, 'utf8');
    for (const c of first) expect(saved).toContain(c);

    // Regenerate asks first; cancelling keeps the set, confirming replaces it.
    page.once('dialog', (d) => void d.dismiss());
    await page.getByRole('button', { name: 'Regenerate recovery codes' }).click();
    expect(await items.allTextContents()).toEqual(first);
    page.once('dialog', (d) => {
      expect(d.message()).toContain('stop working');
      void d.accept();
    });
    await page.getByRole('button', { name: 'Regenerate recovery codes' }).click();
    await expect.poll(async () => (await items.allTextContents())[0]).not.toBe(first[0]);
    const codes = await items.allTextContents();
    expect(codes).toHaveLength(10);
    expect(codes.some((c) => first.includes(c))).toBe(false);
    await shots.take(page, 'codes-regenerated');

    // Log out, log in: no phone, so "use a recovery code", by keyboard only.
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL('**/login');
    await page.getByLabel('Email').fill(p.email);
    await page.getByLabel('Password').fill(p.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL('**/login/code');
    await shots.take(page, 'code-entry');
    const toggle = page.getByRole('button', { name: 'Use a recovery code' });
    await toggle.focus();
    await page.keyboard.press('Enter');
    const input = page.getByLabel('Recovery code');
    await input.waitFor();
    expect(await input.getAttribute('autocomplete')).toBe('off');
    expect(await input.getAttribute('inputmode')).toBe('text');
    expect(await input.getAttribute('pattern')).toBeNull();
    expect(await page.evaluate<string | undefined>('document.activeElement?.id')).toBe('f-code');
    await page.getByRole('button', { name: 'Resend code' }).or(page.getByRole('button', { name: 'Text me a code' })).waitFor({ state: 'hidden' });
    await shots.take(page, 'recovery-entry');
    await fitsWidth(page);

    // A wrong code first: an error with the tries left, then the right one, typed in upper case.
    await page.keyboard.type('zzzzz-zzzzz');
    await page.keyboard.press('Enter');
    await page.getByText(/not right, or it was already used\. 4 tries left/).waitFor();
    await shots.take(page, 'recovery-wrong');
    await input.fill('');
    await page.keyboard.type(codes[2]!.toUpperCase());
    await page.keyboard.press('Enter');
    await page.waitForURL('**/account');
    await page.getByText('You logged in with a recovery code. You have 9 recovery codes left.').waitFor();
    expect(await page.getByTestId('recovery-status').textContent()).toContain('9 of 10');
    await page.getByText(/Second step passed with a recovery code\./).first().waitFor();
    await shots.take(page, 'account-after-recovery');
    await fitsWidth(page);

    // The same code cannot be used again.
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL('**/login');
    await page.getByLabel('Email').fill(p.email);
    await page.getByLabel('Password').fill(p.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL('**/login/code');
    await page.getByRole('button', { name: 'Use a recovery code' }).click();
    await page.getByLabel('Recovery code').fill(codes[2]!);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByText(/already used/).waitFor();
    await shots.take(page, 'recovery-reused');
    await ctx.close();
  });

  it('when a user whose phone approves logins has lost it then the approval screen leads to a recovery code and the lost authenticator can be removed', async () => {
    const shots = new Shots('recovery codes lost phone');
    const tag = randomBytes(3).toString('hex');
    const p = { name: 'Dorothy Vaughan', email: `dorothy.${tag}@example.com`, password: `fortran and ${tag} tea`, phone: `201555${String((parseInt(tag, 16) + 5000) % 10_000).padStart(4, '0')}` };
    const ctx = await browser.newContext({ viewport });
    const page = watch(await ctx.newPage());
    await page.goto(`${t.url}/signup`);
    await fillSignup(page, p);
    await completeSignup(page, t.url, p);
    // The phone that will be lost: an authenticator speaking the device API.
    await page.getByRole('button', { name: 'Add authenticator' }).click();
    const link = await page.getByTestId('activation-link').getAttribute('href');
    await TestDevice.activate(t.url, link!);
    await page.getByRole('button', { name: 'Generate recovery codes' }).click();
    await expect.poll(() => page.getByTestId('recovery-code').count()).toBe(10);
    const codes = await page.getByTestId('recovery-code').allTextContents();
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL('**/login');

    await page.getByLabel('Email').fill(p.email);
    await page.getByLabel('Password').fill(p.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL('**/login/approve');
    await shots.take(page, 'approve');
    await page.getByRole('button', { name: 'Lost your phone? Use a recovery code' }).click();
    await page.waitForURL('**/login/code');
    const input = page.getByLabel('Recovery code');
    await input.waitFor();
    expect(await page.evaluate<string | undefined>('document.activeElement?.id')).toBe('f-code');
    await shots.take(page, 'recovery-entry');
    await input.fill(codes[7]!);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL('**/account');
    expect(await page.getByTestId('recovery-status').textContent()).toContain('9 of 10');
    // Remove the lost phone.
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: /^Remove / }).click();
    await page.getByText('No authenticator yet.').waitFor();
    await shots.take(page, 'lost-phone-removed');
    await fitsWidth(page);
    await ctx.close();
  });
});
