import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { mailTo } from '../test/app/helpers.js';
import { startTestSystem, type TestSystem } from '../test/helpers/system.js';
import { codeIn, completeSignup, fillSignup, launchChromium, nextSms, Shots, watchPage } from './helpers.js';

/** Changing the password and the email from the account page, in real Chromium at 375 px. */
describe('Account changes in Chromium', () => {
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

  it('when a user changes the password and then the email (confirmed from the new mailbox) then both are what the next login takes', async () => {
    const shots = new Shots('account changes');
    const tag = randomBytes(3).toString('hex');
    const p = { name: 'Katherine Coleman', email: `kc.${tag}@example.com`, password: `trajectory ${tag}`, phone: `201555${String(parseInt(tag, 16) % 10_000).padStart(4, '0')}` };
    const ctx = await browser.newContext({ viewport });
    const page = watch(await ctx.newPage());
    await page.goto(`${t.url}/signup`);
    await fillSignup(page, p);
    await completeSignup(page, t.url, p);

    await page.getByRole('button', { name: 'Change password' }).first().click();
    await page.getByLabel('Current password').fill(p.password);
    await page.getByLabel('New password').fill(`new ${tag} passphrase`);
    await shots.take(page, 'change-password');
    await page.locator('form').getByRole('button', { name: 'Change password' }).click();
    await page.getByText(/✓ Your password was changed\./).waitFor();

    const moved = `kc.moved.${tag}@example.com`;
    await page.getByRole('button', { name: 'Change email' }).click();
    await page.getByLabel('New email address').fill(moved);
    await page.getByRole('button', { name: 'Send a link to it' }).click();
    await page.getByText(`We sent a link to ${moved}.`, { exact: false }).waitFor();
    await shots.take(page, 'email-link-sent');
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(viewport.width);

    let link = '';
    await expect.poll(async () => (link = /(http\S+\/account\/email#token=[A-Za-z0-9_-]{43})/.exec((await mailTo(t.url, moved))[0]?.text ?? '')?.[1] ?? ''), { timeout: 10_000 }).not.toBe('');
    await page.goto(link);
    await page.getByRole('heading', { name: 'Confirm your new email address' }).waitFor();
    expect(page.url()).not.toContain('token');
    await page.getByRole('button', { name: 'Use this email address' }).click();
    await page.getByRole('heading', { name: 'Your email address was changed' }).waitFor();
    await shots.take(page, 'email-changed');
    await page.getByRole('link', { name: 'Go to your account' }).click();
    await page.waitForURL('**/account');
    await page.getByText(moved, { exact: true }).waitFor();
    await page.getByText('Your email address was changed.').first().waitFor();

    // And the phone: a code texted to the new number proves it.
    const newPhone = `201555${String((parseInt(tag, 16) + 4321) % 10_000).padStart(4, '0')}`;
    await page.getByRole('button', { name: 'Change phone' }).first().click();
    await page.getByLabel('Country').selectOption('US');
    await page.getByLabel('New mobile phone').fill(newPhone);
    await page.getByRole('button', { name: 'Text me a code' }).click();
    await page.getByLabel('Code from the text message').fill(codeIn(await nextSms(t.url, `+1${newPhone}`, 0)));
    await shots.take(page, 'phone-code');
    await page.locator('form').getByRole('button', { name: 'Change phone' }).click();
    await page.getByText(/✓ Your phone number is now \+1 201 555/).waitFor();
    await shots.take(page, 'phone-changed');
    await ctx.close();

    // Another browser: the new address and the new password lead to the second factor.
    const ctx2 = await browser.newContext({ viewport });
    const page2 = watch(await ctx2.newPage());
    await page2.goto(`${t.url}/login`);
    await page2.getByLabel('Email').fill(moved);
    await page2.getByLabel('Password').fill(`new ${tag} passphrase`);
    await page2.getByRole('button', { name: 'Log in' }).click();
    await page2.waitForURL('**/login/code');
    await ctx2.close();
  });
});
