import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { eventually, TestDevice } from '../test/app/helpers.js';
import { startTestSystem, type TestSystem } from '../test/helpers/system.js';
import type { Clock } from '../src/platform/clock.js';
import { codeIn, completeSignup, fillSignup, launchChromium, newPerson, nextSms, onPhoneStep, Shots, smsTo, watchPage, signupLink } from './helpers.js';

/**
 * Signup's phone step and the step-up ("Confirm it's you") before a factor change, in real
 * Chromium at 375 px. The server runs on a clock the test can shift: a session started "six
 * minutes ago" is past the five-minute window in which a login or signup may change factors, and a
 * signup's code cool-down can be over without waiting 30 s. Devices sign with the real time, so
 * the clock is back at the real time whenever one talks to the server.
 */
describe('Signup phone step and step-up in Chromium', () => {
  let t: TestSystem;
  let browser: Browser;
  const viewport = { width: 375, height: 800 };
  const problems: string[] = [];
  /** How far the server's clock is from the real time. */
  const shift = { ms: 0 };
  const clock: Clock = { now: () => Date.now() + shift.ms };
  const SIX_MINUTES = 6 * 60 * 1000;

  beforeAll(async () => {
    t = await startTestSystem({ db: 'sqlite', clock });
    browser = await launchChromium();
  });
  afterAll(async () => {
    expect(problems).toEqual([]);
    await browser?.close();
    await t?.stop();
  });

  const watch = (page: Page): Page => watchPage(page, problems);

  async function newPage(): Promise<{ ctx: BrowserContext; page: Page }> {
    const ctx = await browser.newContext({ viewport });
    const page = watch(await ctx.newPage());
    return { ctx, page };
  }

  const person = newPerson;
  const fitsWidth = async (page: Page) => expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(viewport.width);
  const focusedId = (page: Page) => page.evaluate<string | undefined>('document.activeElement?.id');

  it('when a signup enters a wrong phone code then the tries left show, and after the cool-down "Resend code" texts a new code; the emailed link then creates the account', async () => {
    const shots = new Shots('signup phone code');
    shift.ms = 0;
    const p = person('Mary Jackson');
    const { ctx, page } = await newPage();
    await page.goto(`${t.url}/signup`);
    await fillSignup(page, p);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL(onPhoneStep);
    await page.getByRole('heading', { name: 'Confirm your phone' }).waitFor();
    expect(await page.getByTestId('signup-phone').textContent()).toBe(p.pretty);
    await page.getByText(`Enter the code we texted to ${p.pretty}.`).waitFor();
    const input = page.getByLabel('Code from the text message');
    expect(await input.getAttribute('autocomplete')).toBe('one-time-code');
    expect(await input.getAttribute('inputmode')).toBe('numeric');
    expect(await focusedId(page)).toBe('f-phone-code');
    // The first code was just sent: "Resend code" waits, with a countdown.
    const resend = page.getByRole('button', { name: 'Resend code' });
    expect(await resend.isDisabled()).toBe(true);
    await page.getByText(/You can ask for another code in \d+ s\./).waitFor();
    const first = codeIn(await nextSms(t.url, p.e164, 0));
    await shots.take(page, 'code-step');
    await fitsWidth(page);

    // A wrong code: the page stays, says so, and how many tries are left.
    await input.fill(first === '000000' ? '111111' : '000000');
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByText(/That code is not right\. Check the text message and try again\. 4 tries left\./).waitFor();
    expect(onPhoneStep(new URL(page.url()))).toBe(true);
    expect(await focusedId(page)).toBe('f-phone-code');
    expect(await input.getAttribute('aria-invalid')).toBe('true');
    await shots.take(page, 'wrong-code');

    // 31 s later (the server's clock) a reload asks the server where the signup stands: the
    // cool-down is over, and the tries left are remembered.
    shift.ms += 31_000;
    await page.reload();
    await page.getByRole('heading', { name: 'Confirm your phone' }).waitFor();
    await page.getByText('4 tries left.').waitFor();
    await expect.poll(() => resend.isDisabled()).toBe(false);
    const before = (await smsTo(t.url, p.e164)).length;
    await resend.click();
    await page.getByText(`We sent a new code to ${p.pretty}.`, { exact: false }).waitFor();
    expect(await resend.isDisabled()).toBe(true);
    await page.getByText(/You can ask for another code in \d+ s\./).waitFor();
    const second = codeIn(await nextSms(t.url, p.e164, before));
    await shots.take(page, 'resent');
    await input.fill(second);
    await page.getByRole('button', { name: 'Verify' }).click();
    // Then the address: a link to it, opened from the mailbox, creates the account.
    await page.getByRole('heading', { name: 'Check your email' }).waitFor();
    await shots.take(page, 'check-email');
    await page.goto(await signupLink(t.url, p.email));
    await page.getByRole('button', { name: 'Finish creating my account' }).click();
    await page.waitForURL('**/account');
    await page.getByRole('heading', { name: `Hello, ${p.name}` }).waitFor();
    await page.getByText(/Your phone and email are confirmed/).waitFor();
    await page.getByText(/No authenticator yet\. Logins use a code texted to/).waitFor();
    await shots.take(page, 'account');
    await fitsWidth(page);
    await ctx.close();
  });

  it('when a signup gets five wrong codes then it stops and leads back to the form', async () => {
    const shots = new Shots('signup too many codes');
    shift.ms = 0;
    const p = person('Annie Easley');
    const { ctx, page } = await newPage();
    await page.goto(`${t.url}/signup`);
    await fillSignup(page, p);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL(onPhoneStep);
    const right = codeIn(await nextSms(t.url, p.e164, 0));
    const wrong = right === '000000' ? '111111' : '000000';
    for (let left = 4; left >= 1; left--) {
      await page.getByLabel('Code from the text message').fill(wrong);
      await page.getByRole('button', { name: 'Verify' }).click();
      await page.getByText(new RegExp(`${left} ${left === 1 ? 'try' : 'tries'} left\\.`)).waitFor();
    }
    await page.getByLabel('Code from the text message').fill(wrong);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('heading', { name: 'Sign-up stopped' }).waitFor();
    await page.getByRole('alert').filter({ hasText: 'Too many wrong codes' }).waitFor();
    await shots.take(page, 'stopped');
    await page.getByRole('link', { name: 'Fill in the form again' }).click();
    await page.waitForURL('**/signup');
    await page.getByRole('heading', { name: 'Create an account' }).waitFor();
    // The pending signup is gone: its step cannot be reopened.
    await page.goto(`${t.url}/signup?step=phone`);
    await page.waitForURL((u) => !onPhoneStep(u));
    await page.getByText(/nothing was created/i).waitFor();
    await ctx.close();
  });

  it('when a session older than five minutes generates recovery codes then "Confirm it’s you" asks for the password and an SMS code, and the codes are then generated', async () => {
    const shots = new Shots('step-up sms');
    const p = person('Evelyn Boyd');
    const { ctx, page } = await newPage();
    // Sign up "six minutes ago".
    shift.ms = -SIX_MINUTES;
    await page.goto(`${t.url}/signup`);
    await fillSignup(page, p);
    await completeSignup(page, t.url, p);
    shift.ms = 0;

    const generate = page.getByRole('button', { name: 'Generate recovery codes' });
    const dialog = page.getByRole('dialog', { name: 'Confirm it’s you' });
    // Escape closes the dialog and changes nothing.
    await generate.click();
    await dialog.waitFor();
    expect(await focusedId(page)).toBe('f-reauth-password');
    await shots.take(page, 'confirm-password');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    expect(await page.getByTestId('recovery-status').textContent()).toContain('no recovery codes yet');
    expect(await page.getByTestId('recovery-code').count()).toBe(0);

    await generate.click();
    await dialog.waitFor();
    // A wrong password first.
    await dialog.getByLabel('Password').fill('not my password at all');
    await dialog.getByRole('button', { name: 'Continue' }).click();
    await dialog.getByText('That password is not right. Try again.').waitFor();
    expect(await focusedId(page)).toBe('f-reauth-password');
    await shots.take(page, 'confirm-wrong-password');
    const before = (await smsTo(t.url, p.e164)).length;
    await dialog.getByLabel('Password').fill(p.password);
    await dialog.getByRole('button', { name: 'Continue' }).click();
    // No authenticator: the code comes by text message.
    const codeInput = dialog.getByLabel('Verification code');
    await codeInput.waitFor();
    expect(await codeInput.getAttribute('autocomplete')).toBe('one-time-code');
    expect(await focusedId(page)).toBe('f-reauth-code');
    await dialog.getByText(/You can ask for another code in \d+ s\./).waitFor();
    await dialog.getByRole('button', { name: 'Use a recovery code' }).waitFor();
    const sms = codeIn(await nextSms(t.url, p.e164, before));
    await shots.take(page, 'confirm-sms-code');
    await fitsWidth(page);
    await codeInput.fill(sms);
    await dialog.getByRole('button', { name: 'Verify' }).click();
    // The dialog closes and the original action runs again by itself.
    await dialog.waitFor({ state: 'hidden' });
    await expect.poll(() => page.getByTestId('recovery-code').count()).toBe(10);
    expect(await page.getByTestId('recovery-status').textContent()).toContain('10 of 10');
    await shots.take(page, 'codes-after-step-up');

    // Fresh now: adding an authenticator asks nothing, and the page lists it once it is activated.
    await page.getByRole('button', { name: 'Add authenticator' }).click();
    const link = (await page.getByTestId('activation-link').getAttribute('href'))!;
    expect(await dialog.count()).toBe(0);
    await TestDevice.activate(t.url, link);
    await page.getByRole('button', { name: 'Remove Test phone' }).waitFor({ timeout: 10_000 });
    await page.getByText(/You confirmed it’s you\./).first().waitFor();
    await shots.take(page, 'device-listed');
    await ctx.close();
  });

  it('when a stale session of a user with an authenticator adds an authenticator app then the step-up is approved on the phone with the number and the app is set up', async () => {
    const shots = new Shots('step-up push');
    const p = person('Christine Darden');
    const { ctx, page } = await newPage();
    shift.ms = 0;
    await page.goto(`${t.url}/signup`);
    await fillSignup(page, p);
    await completeSignup(page, t.url, p);
    await page.getByRole('button', { name: 'Add authenticator' }).click();
    const device = await TestDevice.activate(t.url, (await page.getByTestId('activation-link').getAttribute('href'))!);
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL('**/login');

    // Log in "six minutes ago" with a text message (the phone's request is not answered).
    shift.ms = -SIX_MINUTES;
    await page.getByLabel('Email').fill(p.email);
    await page.getByLabel('Password').fill(p.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL('**/login/approve');
    await page.getByRole('button', { name: 'Use a code instead' }).click();
    await page.waitForURL('**/login/code');
    const before = (await smsTo(t.url, p.e164)).length;
    await page.getByRole('button', { name: 'Text me a code' }).click();
    await page.getByLabel('Verification code').fill(codeIn(await nextSms(t.url, p.e164, before)));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL('**/account');
    shift.ms = 0;

    await page.getByRole('button', { name: 'Use another authenticator app' }).click();
    const dialog = page.getByRole('dialog', { name: 'Confirm it’s you' });
    await dialog.getByLabel('Password').fill(p.password);
    await dialog.getByRole('button', { name: 'Continue' }).click();
    const number = (await dialog.getByTestId('match-number').textContent())!.trim();
    expect(number).toMatch(/^\d{2}$/);
    await dialog.getByText('Waiting for your approval…').waitFor();
    await shots.take(page, 'confirm-on-phone');
    await fitsWidth(page);
    const request = await eventually(async () => (await device.pending()).find((r) => r.message.startsWith('Confirm a change to your')));
    const answered = await device.answer(request, 'approve', number);
    expect(answered.status).toBe(200);
    // Approved: the dialog closes and the app's QR code is shown.
    await dialog.waitFor({ state: 'hidden' });
    await page.getByAltText('QR code for your authenticator app').waitFor();
    const secret = (await page.getByTestId('totp-secret').textContent())!.replace(/\s+/g, '');
    await shots.take(page, 'totp-app-qr');
    // A code of the Twofold authenticator is not one of the new app. (The code of the previous
    // 30-s step: each step is usable once per user across all their authenticators, so the
    // current step must stay free for the new app's code.)
    const previousStep = `@${Math.floor(Date.now() / 1000) - 30}`;
    await page.getByLabel('Code shown by the app').fill(execFileSync('oathtool', ['--totp', '-b', `--now=${previousStep}`, device.totpSecret], { encoding: 'utf8' }).trim());
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByText(/That code is not from the new app/).waitFor();
    await shots.take(page, 'code-from-other-authenticator');
    await page.getByLabel('Code shown by the app').fill(execFileSync('oathtool', ['--totp', '-b', secret], { encoding: 'utf8' }).trim());
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('Your authenticator app is set up and listed above.').waitFor();
    await expect.poll(() => page.getByTestId('factor').count()).toBe(2);
    expect(await page.getByText('Not set up').count()).toBe(0);
    await shots.take(page, 'account-with-both');
    await ctx.close();
  });
});
