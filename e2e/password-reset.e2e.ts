import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { mailTo } from '../test/app/helpers.js';
import { startTestSystem, type TestSystem } from '../test/helpers/system.js';
import { codeIn, completeSignup, fillSignup, launchChromium, nextSms, Shots, smsTo, watchPage } from './helpers.js';

/**
 * A user who forgot the password, in real Chromium at 375 px: "Forgot your password?" on the login
 * page, the link from the mail outbox, a new password, and a login that still asks for the code.
 */
describe('Password reset in Chromium', () => {
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

  it('when a user resets a forgotten password from the emailed link then the old link dies and the next login still asks for the SMS code', async () => {
    const shots = new Shots('password reset');
    const tag = randomBytes(3).toString('hex');
    const p = { name: 'Grace Hopper', email: `grace.${tag}@example.com`, password: `compiler ${tag} cobol`, phone: `201555${String(parseInt(tag, 16) % 10_000).padStart(4, '0')}` };
    const e164 = `+1${p.phone}`;
    const signupCtx = await browser.newContext({ viewport });
    const signupPage = watch(await signupCtx.newPage());
    await signupPage.goto(`${t.url}/signup`);
    await fillSignup(signupPage, p);
    await completeSignup(signupPage, t.url, p);
    await signupCtx.close();

    // Another browser, without the password.
    const ctx = await browser.newContext({ viewport });
    const page = watch(await ctx.newPage());
    await page.goto(`${t.url}/login`);
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.waitForURL('**/password/forgot');
    await page.getByRole('heading', { name: 'Forgot your password?' }).waitFor();
    await page.getByLabel('Email').fill(p.email);
    await shots.take(page, 'forgot');
    await page.getByRole('button', { name: 'Send me a link' }).click();
    await page.getByRole('heading', { name: 'Check your email' }).waitFor();
    expect(await page.getByRole('status').textContent()).toContain('30 minutes');
    await shots.take(page, 'check-your-email');

    let link = '';
    await expect.poll(async () => (link = /(http\S+\/password\/reset#token=[A-Za-z0-9_-]{43})/.exec((await mailTo(t.url, p.email))[0]?.text ?? '')?.[1] ?? ''), { timeout: 10_000 }).not.toBe('');
    await page.goto(link);
    await page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
    // The token left the address bar (and the history entry) as soon as the page read it.
    expect(page.url()).toBe(`${t.url}/password/reset`);
    await page.getByLabel('New password').fill('password123');
    await page.getByRole('button', { name: 'Set new password' }).click();
    await page.getByText('This password is too common; choose another.').waitFor();
    await shots.take(page, 'too-common');
    const fresh = `new ${tag} passphrase`;
    await page.getByLabel('New password').fill(fresh);
    await page.getByRole('button', { name: 'Set new password' }).click();
    await page.waitForURL('**/login');
    await page.getByText(/Your password was changed/).waitFor();
    await shots.take(page, 'login-after-reset');
    expect(page.url()).not.toContain('token');
    expect(viewport.width).toBeGreaterThanOrEqual(await page.evaluate<number>('document.documentElement.scrollWidth'));

    // The new password still leads to the second factor.
    const before = (await smsTo(t.url, e164)).length;
    await page.getByLabel('Email').fill(p.email);
    await page.getByLabel('Password').fill(fresh);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL('**/login/code');
    await page.getByLabel('Verification code').fill(codeIn(await nextSms(t.url, e164, before)));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL('**/account');
    await page.getByText('Your password was reset with an emailed link, and every session was ended.').first().waitFor();
    await shots.take(page, 'account-activity');

    // The link, opened again, is spent.
    await page.goto(link);
    await page.getByLabel('New password').fill(`another ${tag} passphrase`);
    await page.getByRole('button', { name: 'Set new password' }).click();
    await page.getByRole('heading', { name: 'This link has expired' }).waitFor();
    await page.getByRole('link', { name: 'Ask for a new link' }).waitFor();
    await shots.take(page, 'link-spent');
    await ctx.close();
  });
});
