import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachDatabase } from '../helpers/databases.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { Browser, latestSmsCode, newUser, signUp } from './helpers.js';

/** The routes of the service's API the access log saw (one `http` line per HTTP request). */
function serviceRequests(t: TestSystem): string[] {
  return t.logs
    .map((l) => JSON.parse(l) as { msg?: string; route?: string })
    .filter((l) => l.msg === 'http' && /^(GET|POST|DELETE) \/(protected|onetouch|v1)\//.test(l.route ?? ''))
    .map((l) => l.route!);
}

/** Sign up, log out, log in again with an SMS code: every kind of call the app makes to the service on the way. */
async function signUpAndLogIn(t: TestSystem): Promise<void> {
  const u = newUser();
  const b = new Browser(t.url);
  await signUp(b, u);
  expect((await b.del('/session')).status).toBe(200);
  expect((await b.post('/session', { email: u.email, password: u.password })).body).toMatchObject({ state: 'code', via: 'sms' });
  const { code } = await latestSmsCode(t.url, `+1${u.phone}`);
  expect((await b.post('/session/verify', { code })).body).toEqual({ state: 'logged_in' });
}

forEachDatabase((kind) => {
  describe(`the web app's binding to the service of its own process on ${kind}`, () => {
    let inProcess: TestSystem;
    let overHttp: TestSystem;
    beforeAll(async () => {
      inProcess = await startTestSystem({ db: kind, env: { SERVICE_BINDING: 'in-process' } });
      overHttp = await startTestSystem({ db: kind, env: { SERVICE_BINDING: 'http' } });
    });
    afterAll(async () => {
      await inProcess?.stop();
      await overHttp?.stop();
    });

    it('when the binding is in-process then signup and a login reach the service without one HTTP request to its API', async () => {
      await signUpAndLogIn(inProcess);
      expect(serviceRequests(inProcess)).toEqual([]);
    });

    it('when the binding is http then the same flow reaches the service over HTTP (the split deployment path)', async () => {
      await signUpAndLogIn(overHttp);
      expect(serviceRequests(overHttp)).toEqual(expect.arrayContaining(['POST /protected/json/users/new', 'GET /protected/json/sms/:id', 'GET /protected/json/verify/:token/:id']));
    });

    it('when the service refuses in-process then the app sees the refusal as over HTTP: a wrong code is CODE_INVALID with the same attempts left', async () => {
      const answers: unknown[] = [];
      for (const t of [inProcess, overHttp]) {
        const u = newUser();
        const b = new Browser(t.url);
        await signUp(b, u);
        expect((await b.del('/session')).status).toBe(200);
        expect((await b.post('/session', { email: u.email, password: u.password })).status).toBe(200);
        const { code } = await latestSmsCode(t.url, `+1${u.phone}`);
        const wrong = code === '000000' ? '111111' : '000000';
        const r = await b.post('/session/verify', { code: wrong });
        answers.push({ status: r.status, body: r.body });
      }
      expect(answers[0]).toEqual(answers[1]);
      expect(answers[0]).toMatchObject({ status: 400, body: { code: 'CODE_INVALID', attempts_left: expect.any(Number) } });
    });
  });
});
