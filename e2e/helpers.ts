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
