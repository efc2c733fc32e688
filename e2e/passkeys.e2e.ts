import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import type { Clock } from '../src/platform/clock.js';
import { freePort } from '../test/helpers/passkeys.js';
import { startTestSystem, type TestSystem } from '../test/helpers/system.js';
import { codeIn, completeSignup, fillSignup, launchChromium, newPerson, nextSms, Shots, smsTo, watchPage } from './helpers.js';

/**
 * Passkeys in real Chromium, with the DevTools protocol's virtual authenticator standing in for a
 * phone or a password manager: registering one on the account page (behind the step-up), renaming
 * it, signing in with it instead of the password, using it as the second step after the password
 * and as the step-up's proof, and removing it. The site is served and browsed at
 * http://localhost:PORT (WebAuthn refuses IP addresses). The server runs on a clock the test can
 * shift, so that a session is older than the five minutes in which it may change factors freely.
 */
describe('Passkeys in Chromium', () => {
  let t: TestSystem;
  let browser: Browser;
  let base = '';
  const viewport = { width: 375, height: 800 };
  const problems: string[] = [];
  const shift = { ms: 0 };
  const clock: Clock = { now: () => Date.now() + shift.ms };
  const SIX_MINUTES = 6 * 60 * 1000;

  beforeAll(async () => {
    const port = await freePort();
    base = `http://localhost:${port}`;
    t = await startTestSystem({ db: 'sqlite', clock, port, env: { PUBLIC_URL: base } });
    browser = await launchChromium();
  });
  afterAll(async () => {
    expect(problems).toEqual([]);
    await browser?.close();
    await t?.stop();
  });

  const person = newPerson;
  type Person = ReturnType<typeof person>;

  /**
   * A phone-sized browser. The virtual authenticator answers a passkey request of the email
   * field's autofill at once, as if the person had picked the passkey from the list: so a page
   * that is to show the login page and its button says the browser has no such autofill (`autofill`
   * false), and the login page then waits for the button.
   */
  async function newPage(o: { autofill: boolean } = { autofill: false }): Promise<{ ctx: BrowserContext; page: Page }> {
    const ctx = await browser.newContext({ viewport });
    if (!o.autofill) await ctx.addInitScript('PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);');
    const page = watchPage(await ctx.newPage(), problems);
    // Dialogs of the page: "Remove …?" is answered yes.
    page.on('dialog', (d) => void d.accept());
    return { ctx, page };
  }

  /** A virtual platform authenticator holding discoverable credentials; `verifies`: it checks a PIN or biometric (user verification). */
  async function virtualAuthenticator(page: Page, verifies: boolean): Promise<{ cdp: CDPSession; authenticatorId: string }> {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: verifies, isUserVerified: verifies, automaticPresenceSimulation: true },
    });
    return { cdp, authenticatorId };
  }

  async function credentials(a: { cdp: CDPSession; authenticatorId: string }) {
    return (await a.cdp.send('WebAuthn.getCredentials', { authenticatorId: a.authenticatorId })).credentials;
  }

  async function signUp(page: Page, p: Person, shots?: Shots): Promise<void> {
    await page.goto(`${base}/signup`);
    await fillSignup(page, p);
    // The dev outboxes are read from Node at the address the server listens on.
    await completeSignup(page, t.url, p, shots);
  }

  async function logOut(page: Page): Promise<void> {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL('**/login');
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
  }

  /** The step-up dialog with the password and a texted code (an account without an authenticator app). */
  async function stepUpWithSms(page: Page, p: Person): Promise<void> {
    const dialog = page.getByRole('dialog', { name: 'Confirm it’s you' });
    await dialog.waitFor();
    const before = (await smsTo(t.url, p.e164)).length;
    await dialog.getByLabel('Password').fill(p.password);
    await dialog.getByRole('button', { name: 'Continue' }).click();
    await dialog.getByLabel('Verification code').fill(codeIn(await nextSms(t.url, p.e164, before)));
    await dialog.getByRole('button', { name: 'Verify' }).click();
    await dialog.waitFor({ state: 'hidden' });
  }

  const passkeyItems = (page: Page) => page.locator('[data-testid="factor"][data-kind="passkey"]');
  const fitsWidth = async (page: Page) => expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(viewport.width);

  it('when a user adds a passkey (after the step-up) then it is listed, can be renamed, signs in without the password, is the second step after the password and the step-up proof, and can be removed', async () => {
    const shots = new Shots('passkey journey');
    const p = person('Radia Perlman');
    const { ctx, page } = await newPage();
    // Sign up "six minutes ago": adding a passkey then asks to confirm it's you.
    shift.ms = -SIX_MINUTES;
    await signUp(page, p, shots);
    shift.ms = 0;
    const authenticator = await virtualAuthenticator(page, true);

    await page.getByText('your device or password manager signs you in to this site only').waitFor();
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    // No passkey yet: the dialog has no passkey button.
    const dialog = page.getByRole('dialog', { name: 'Confirm it’s you' });
    await dialog.waitFor();
    expect(await dialog.getByRole('button', { name: 'Confirm with a passkey' }).count()).toBe(0);
    await shots.take(page, 'step-up-before-passkey');
    await stepUpWithSms(page, p);
    // The action runs again by itself: the virtual authenticator makes the passkey.
    await page.getByText(/is added and listed above/).waitFor();
    await expect.poll(() => passkeyItems(page).count()).toBe(1);
    const item = passkeyItems(page).first();
    expect(await item.textContent()).toContain('Passkey');
    expect(await item.textContent()).toContain('this device only');
    expect(await item.textContent()).toContain('not used yet');
    const created = await credentials(authenticator);
    expect(created).toHaveLength(1);
    expect(created[0]!.isResidentCredential).toBe(true);
    expect(created[0]!.rpId).toBe('localhost');
    await shots.take(page, 'passkey-added');
    await fitsWidth(page);

    // Rename it.
    const firstName = (await item.locator('strong').textContent())!;
    await page.getByRole('button', { name: `Rename ${firstName}` }).click();
    const nameInput = page.getByLabel('Passkey name');
    expect(await nameInput.inputValue()).toBe(firstName);
    await shots.take(page, 'rename-form');
    await nameInput.fill('Test laptop');
    await page.getByRole('button', { name: 'Save name' }).click();
    await page.getByText('The passkey is now called “Test laptop”.').waitFor();
    await expect.poll(() => item.locator('strong').textContent()).toBe('Test laptop');
    await page.getByRole('button', { name: 'Rename Test laptop' }).waitFor();
    await shots.take(page, 'renamed');

    // Sign in with it: no email, no password.
    await logOut(page);
    expect(await page.getByLabel('Email').getAttribute('autocomplete')).toBe('username webauthn');
    await shots.take(page, 'login-with-passkey-button');
    await fitsWidth(page);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.waitForURL('**/account');
    await page.getByRole('heading', { name: `Hello, ${p.name}` }).waitFor();
    await page.getByText('A passkey was accepted instead of your password and phone.').first().waitFor();
    await page.getByText('You logged in with a passkey.').first().waitFor();
    await expect.poll(async () => (await passkeyItems(page).first().textContent()) ?? '').toContain('last used');
    await shots.take(page, 'signed-in-with-passkey');

    // The password, then the passkey as the second step ("six minutes ago", for the step-up below).
    await logOut(page);
    shift.ms = -SIX_MINUTES;
    await page.getByLabel('Email').fill(p.email);
    await page.getByLabel('Password').fill(p.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL('**/login/code');
    const usePasskey = page.getByRole('button', { name: 'Use a passkey' });
    await usePasskey.waitFor();
    await shots.take(page, 'second-step-with-passkey');
    await usePasskey.click();
    await page.waitForURL('**/account');
    await page.getByText('Second step passed with a passkey.').first().waitFor();
    shift.ms = 0;

    // The step-up with the passkey alone.
    await page.getByRole('button', { name: 'Generate recovery codes' }).click();
    await dialog.waitFor();
    await shots.take(page, 'step-up-with-passkey-offered');
    await dialog.getByRole('button', { name: 'Confirm with a passkey' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await expect.poll(() => page.getByTestId('recovery-code').count()).toBe(10);
    await shots.take(page, 'step-up-done-with-passkey');

    // Remove it (the step-up is fresh: no dialog).
    await page.getByRole('button', { name: 'Remove Test laptop' }).click();
    await page.getByText(/The passkey “Test laptop” was removed\./).waitFor();
    expect(await passkeyItems(page).count()).toBe(0);
    await page.getByText('You confirmed it’s you with a passkey.').first().waitFor();
    await page.getByText('A passkey was removed.').first().waitFor();
    expect(await dialog.count()).toBe(0);
    await shots.take(page, 'passkey-removed');

    // The authenticator still holds it, but the site no longer knows it.
    expect(await credentials(authenticator)).toHaveLength(1);
    await logOut(page);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.getByRole('alert').filter({ hasText: 'This passkey is not registered here.' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/login');
    await shots.take(page, 'removed-passkey-refused');
    await ctx.close();
  });

  it('when the login page opens in a browser holding a passkey for the site then the email field’s autofill signs in with it', async () => {
    const shots = new Shots('passkey autofill');
    const p = person('Barbara Liskov');
    const { ctx, page } = await newPage({ autofill: true });
    shift.ms = 0;
    await signUp(page, p);
    const authenticator = await virtualAuthenticator(page, true);
    // A fresh signup may add it without confirming again.
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.getByText(/is added and listed above/).waitFor();
    expect(await credentials(authenticator)).toHaveLength(1);
    // Logging out opens the login page, whose email field offers the passkey; the virtual
    // authenticator picks it as a person would, and the page signs in.
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByText('A passkey was accepted instead of your password and phone.').first().waitFor();
    expect(new URL(page.url()).pathname).toBe('/account');
    await shots.take(page, 'signed-in-by-autofill');
    await ctx.close();
  });

  it('when a passkey does not verify its user (no PIN or biometric) then it cannot confirm a step-up on its own but is a second step, and signing in with it still asks for the second step', async () => {
    const shots = new Shots('passkey without user verification');
    const p = person('Sophie Wilson');
    const { ctx, page } = await newPage();
    shift.ms = 0;
    await signUp(page, p);
    const noUv = await virtualAuthenticator(page, false);
    // A fresh signup may add it without confirming again.
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.getByText(/is added and listed above/).waitFor();
    expect(await credentials(noUv)).toHaveLength(1);
    await shots.take(page, 'passkey-added');

    // Six minutes later the session must confirm it's you again: the passkey alone is refused,
    // the password then the passkey as the second step work.
    shift.ms = SIX_MINUTES;
    await page.getByRole('button', { name: 'Generate recovery codes' }).click();
    const dialog = page.getByRole('dialog', { name: 'Confirm it’s you' });
    await dialog.getByRole('button', { name: 'Confirm with a passkey' }).click();
    await dialog.getByText(/cannot confirm it’s you on its own\. Enter your password instead\./).waitFor();
    expect(await page.evaluate<string | undefined>('document.activeElement?.id')).toBe('f-reauth-password');
    await shots.take(page, 'step-up-passkey-not-verified');
    await dialog.getByLabel('Password').fill(p.password);
    await dialog.getByRole('button', { name: 'Continue' }).click();
    await dialog.getByRole('button', { name: 'Use a passkey' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await expect.poll(() => page.getByTestId('recovery-code').count()).toBe(10);

    // Signing in. Chromium offers a passkey for no named account only from authenticators that
    // can verify their user, so the same passkey moves to one that can, and the sign-in request
    // asks it not to (userVerification "discouraged"): it then signs as one without a PIN or
    // biometric does, with the "user verified" flag unset.
    const [cred] = await credentials(noUv);
    await noUv.cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: noUv.authenticatorId });
    const uv = await virtualAuthenticator(page, true);
    await uv.cdp.send('WebAuthn.addCredential', {
      authenticatorId: uv.authenticatorId,
      credential: { credentialId: cred!.credentialId, isResidentCredential: true, rpId: 'localhost', privateKey: cred!.privateKey, userHandle: cred!.userHandle!, signCount: cred!.signCount },
    });
    await page.route('**/session/passkey-signin/options', async (route) => {
      const res = await route.fetch();
      const body = (await res.json()) as { options: Record<string, unknown> };
      await route.fulfill({ response: res, json: { options: { ...body.options, userVerification: 'discouraged' } } });
    });
    await logOut(page);
    const before = (await smsTo(t.url, p.e164)).length;
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.waitForURL('**/login/code');
    // This passkey opened the login: it cannot also be its second step.
    await page.getByLabel('Verification code').waitFor();
    expect(await page.getByRole('button', { name: 'Use a passkey' }).count()).toBe(0);
    await shots.take(page, 'second-step-after-passkey');
    await page.getByLabel('Verification code').fill(codeIn(await nextSms(t.url, p.e164, before)));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL('**/account');
    await page.getByText('A passkey was accepted instead of your password; the second step was still asked.').first().waitFor();
    await shots.take(page, 'signed-in-after-second-step');
    await ctx.close();
  });
});
