import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { expect } from 'vitest';

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--no-first-run'],
  });
}

/** A new person to sign up: a fresh email and phone (US 201-555-xxxx) and a password of their own. */
export function newPerson(name: string) {
  const tag = randomBytes(3).toString('hex');
  const phone = `201555${String(parseInt(tag, 16) % 10_000).padStart(4, '0')}`;
  return { name, email: `${name.toLowerCase().replace(/\s+/g, '.')}.${tag}@example.com`, password: `tea and ${tag} biscuits`, phone, e164: `+1${phone}`, pretty: `+1 201 555 ${phone.slice(6)}` };
}

/** Screenshots of every page a test visits: test-results/e2e/<test>/NN-name.png. */
export class Shots {
  private n = 0;
  readonly dir: string;
  constructor(test: string) {
    this.dir = join('test-results', 'e2e', test.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, ''));
    mkdirSync(this.dir, { recursive: true });
  }
  async take(page: Page, name: string): Promise<void> {
    this.n++;
    await page.screenshot({ path: join(this.dir, `${String(this.n).padStart(2, '0')}-${name}.png`), fullPage: true });
  }
}

/** Messages in the development SMS outbox for `to` (newest first). */
export async function smsTo(base: string, to: string): Promise<{ body: string }[]> {
  const res = await fetch(`${base}/dev/sms.json?to=${encodeURIComponent(to)}`);
  return ((await res.json()) as { messages: { body: string }[] }).messages;
}

export function codeIn(body: string): string {
  const m = /\b(\d{6,10})\b/.exec(body);
  if (!m) throw new Error(`no code in SMS: ${body}`);
  return m[1]!;
}

/** Fill the signup form (the page must show it) and wait until the phone is accepted as valid. */
export async function fillSignup(page: Page, p: { name: string; email: string; password: string; phone: string }): Promise<void> {
  await page.getByLabel('Full name').fill(p.name);
  await page.getByLabel('Email').fill(p.email);
  await page.getByLabel('Password').fill(p.password);
  await page.getByLabel('Country').selectOption('US');
  await page.getByLabel('Mobile phone').fill(p.phone);
  await expect.poll(() => page.locator('#f-phone').getAttribute('aria-invalid')).toBe('false');
}

/** Signup's phone step ("Confirm your phone") is /signup?step=phone. */
export const onPhoneStep = (u: URL): boolean => u.pathname === '/signup' && u.searchParams.get('step') === 'phone';

/** Wait for the newest text message to `to` that `seen` did not contain yet (a count of earlier ones). */
export async function nextSms(base: string, to: string, before: number): Promise<string> {
  let messages: { body: string }[] = [];
  await expect.poll(async () => (messages = await smsTo(base, to)).length, { timeout: 10_000 }).toBeGreaterThan(before);
  return messages[0]!.body;
}

/** The newest signup link mailed to `email`, from the dev mail outbox. */
export async function signupLink(base: string, email: string): Promise<string> {
  let link = '';
  await expect
    .poll(async () => {
      const res = await fetch(`${base}/dev/mail.json?to=${encodeURIComponent(email.toLowerCase())}`);
      const { messages } = (await res.json()) as { messages: { subject: string; text: string }[] };
      const m = messages.find((x) => x.subject.includes('Confirm your email address'));
      return (link = /(http\S+\/signup\/verify-email#token=[A-Za-z0-9_-]{43})/.exec(m?.text ?? '')?.[1] ?? '');
    }, { timeout: 10_000 })
    .not.toBe('');
  return link;
}

/**
 * Finish a signup whose form was just filled (see fillSignup): submit it, type the code the phone
 * received on the "Confirm your phone" step, then open the link mailed to the address and finish.
 * The page ends on the user page.
 */
export async function completeSignup(page: Page, base: string, p: { name: string; phone: string; email: string }, shots?: Shots): Promise<void> {
  const e164 = `+1${p.phone}`;
  const before = (await smsTo(base, e164)).length;
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL(onPhoneStep);
  await page.getByRole('heading', { name: 'Confirm your phone' }).waitFor();
  const code = codeIn(await nextSms(base, e164, before));
  if (shots) await shots.take(page, 'signup-phone-code');
  await page.getByLabel('Code from the text message').fill(code);
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.getByRole('heading', { name: 'Check your email' }).waitFor();
  expect(await page.getByTestId('signup-email').textContent()).toBe(p.email.toLowerCase());
  if (shots) await shots.take(page, 'signup-check-email');
  await page.goto(await signupLink(base, p.email));
  await page.getByRole('heading', { name: 'Confirm your email' }).waitFor();
  expect(page.url()).not.toContain('token');
  await page.getByRole('button', { name: 'Finish creating my account' }).click();
  await page.waitForURL('**/account');
  await page.getByRole('heading', { name: `Hello, ${p.name}` }).waitFor();
}

/**
 * Collect the page's script errors and console errors into `problems` (a test asserts it stays
 * empty). 4xx answers the page expects (a wrong code, say) are not problems.
 */
export function watchPage(page: Page, problems: string[]): Page {
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  return page;
}
