/**
 * Two instances share PostgreSQL: a request created on one reaches a device streaming from the
 * other (through LISTEN/NOTIFY), and the callback is sent once although both run a worker.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateDevice, DeviceClient } from '../../src/authenticator/client.js';
import { pgAvailable } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { activationLink, approvalStatus, CallbackReceiver, collectEvents, createApp, createApproval, registerUser, sleep } from './helpers.js';

const run = pgAvailable() ? describe : describe.skip;

run('OneTouch across two instances (postgres)', () => {
  let a: TestSystem & { pgSchema: string | undefined };
  let b: TestSystem;
  const rx = new CallbackReceiver();
  beforeAll(async () => {
    const env = { ENCRYPTION_KEY: randomBytes(32).toString('base64'), VERIFY_API_KEY: randomBytes(24).toString('base64url') };
    a = await startTestSystem({ db: 'postgres', env });
    b = await startTestSystem({ db: 'postgres', env, pgSchema: a.pgSchema! });
    await rx.start();
  });
  afterAll(async () => {
    await b.stop();
    await a.stop();
    await rx.stop();
  });

  it('when a request is created on one instance then a stream on the other gets it live, and one callback is sent', async () => {
    const app = await createApp(a, rx.url, 'Scaled');
    const userId = await registerUser(a.url, app.apiKey);
    const device = new DeviceClient(await activateDevice(await activationLink(a.url, app.apiKey, userId), { name: 'phone', serviceUrl: b.url }));
    const stream = collectEvents(device);
    await sleep(300);
    const c = await createApproval(a.url, app.apiKey, userId, { message: 'from instance A' });
    const uuid = c.body['approval_request'].uuid as string;
    await stream.until(() => stream.events.some((e) => e.type === 'approval_request' && e.request.uuid === uuid));
    const shown = (await device.pending())[0]!;
    expect(await device.respond(uuid, 'approve', null, shown)).toBe('approved');
    await stream.until(() => stream.events.some((e) => e.type === 'approval_request_closed' && e.uuid === uuid));
    await stream.close();
    expect((await approvalStatus(a.url, app.apiKey, uuid)).body['approval_request'].status).toBe('approved');
    await rx.waitFor(1);
    await sleep(1500);
    expect(rx.received).toHaveLength(1);
  });
});
