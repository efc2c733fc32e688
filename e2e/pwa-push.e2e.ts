import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startTestSystem, type TestSystem } from '../test/helpers/system.js';
import { activationLink, createApproval, registerUser } from '../test/onetouch/helpers.js';
import { launchChromium, Shots } from './helpers.js';

/**
 * The authenticator PWA's Web Push side in real Chromium. Headless Chromium here has no push
 * service to subscribe with (`pushManager.subscribe` fails: no network, no vendor push backend),
 * so real delivery cannot be seen; what is checked: the service worker registers, the subscribe
 * button is offered and fails gracefully, a push handed to the service worker through the DevTools
 * protocol becomes a notification with the request's message, and `#request=<uuid>` (where a tap
 * on it leads) shows that request. Delivery itself is covered by test/onetouch/web-push.test.ts.
 */
/** The bits of the page's `navigator` these checks use (this tsconfig has no DOM library). */
interface PageNavigator {
  serviceWorker: {
    ready: Promise<{ scope: string; getNotifications(o: { tag: string }): Promise<{ title: string; body: string; data: unknown }[]> }>;
  };
}

describe('authenticator PWA notifications in Chromium', () => {
  let t: TestSystem;
  let browser: Browser;
  let ctx: BrowserContext;
  let page: Page;
  let userId: number;
  const problems: string[] = [];

  beforeAll(async () => {
    t = await startTestSystem({ db: 'sqlite', env: { PUSH_PER_USER_LIMIT: '100' } });
    browser = await launchChromium();
    ctx = await browser.newContext({ viewport: { width: 375, height: 800 } });
    await ctx.grantPermissions(['notifications'], { origin: t.url });
    page = await ctx.newPage();
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    userId = await registerUser(t.url, t.apiKey);
  });
  afterAll(async () => {
    await browser?.close();
    await t?.stop();
  });

  it('when the PWA is activated then its service worker registers and it offers "Notify me of login requests"', async () => {
    const shots = new Shots('pwa push');
    await page.goto(await activationLink(t.url, t.apiKey, userId));
    await page.getByRole('button', { name: 'Activate' }).click();
    await page.getByTestId('totp-code').waitFor();
    const scope = await page.evaluate(async () => (await (globalThis as unknown as { navigator: PageNavigator }).navigator.serviceWorker.ready).scope);
    expect(scope).toBe(`${t.url}/authenticator/`);
    const button = page.getByTestId('push-enable');
    await button.waitFor({ state: 'visible' });
    expect(await button.textContent()).toBe('Notify me of login requests');
    await shots.take(page, 'notifications-offered');

    await button.click();
    // No push service reachable from headless Chromium here: the PWA says so and stays usable.
    await page.getByText('Notifications could not be turned on in this browser', { exact: false }).waitFor();
    await shots.take(page, 'subscribe-failed');
    expect(problems).toEqual([]);
  });

  it('when the service worker receives a push then it shows the request message as a notification tagged with the uuid', async () => {
    const cdp = await ctx.newCDPSession(page);
    const registrationId = await new Promise<string>((resolve) => {
      cdp.on('ServiceWorker.workerRegistrationUpdated', (e: { registrations: { registrationId: string; scopeURL: string; isDeleted: boolean }[] }) => {
        const r = e.registrations.find((x) => x.scopeURL === `${t.url}/authenticator/` && !x.isDeleted);
        if (r) resolve(r.registrationId);
      });
      void cdp.send('ServiceWorker.enable');
    });
    const uuid = '0b3c1f9e-6f0e-4d7a-9d35-3b8f3a0c2e11';
    await cdp.send('ServiceWorker.deliverPushMessage', {
      origin: t.url,
      registrationId,
      data: JSON.stringify({ type: 'approval_request', uuid, message: 'Request to log in to Twofold Demo', app_name: 'Twofold Demo' }),
    });
    // waitForFunction does not wait for an async predicate's result, so poll with evaluate.
    const readNotification = () =>
      page.evaluate(async (tag) => {
        const reg = await (globalThis as unknown as { navigator: PageNavigator }).navigator.serviceWorker.ready;
        const [n] = await reg.getNotifications({ tag });
        return n ? { title: n.title, body: n.body, data: n.data as unknown } : null;
      }, uuid);
    let shown = await readNotification();
    for (const end = Date.now() + 10_000; !shown && Date.now() < end; ) {
      await new Promise((r) => setTimeout(r, 100));
      shown = await readNotification();
    }
    expect(shown).toEqual({
      title: 'Request to log in to Twofold Demo',
      body: 'Tap to approve or deny',
      data: { type: 'approval_request', uuid, message: 'Request to log in to Twofold Demo', app_name: 'Twofold Demo' },
    });
  });

  it('when the PWA is opened at #request=<uuid> (a tapped notification) then that request is shown and highlighted', async () => {
    const created = await createApproval(t.url, t.apiKey, userId, { message: 'Login from the notification' });
    const uuid = created.body['approval_request'].uuid as string;
    await page.goto(`${t.url}/authenticator/#request=${uuid}`);
    const card = page.locator(`article.request.focused[data-uuid="${uuid}"]`);
    await card.waitFor();
    expect(await card.locator('h3').textContent()).toBe('Login from the notification');
    await new Shots('pwa push').take(page, 'request-from-notification');

    await page.goto(`${t.url}/authenticator/#request=00000000-0000-4000-8000-000000000000`);
    await page.getByText('That request is no longer pending.').waitFor();
    expect(problems).toEqual([]);
  });
});
