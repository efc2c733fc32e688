import type { ServerResponse } from 'node:http';
import { Router } from 'express';
import { loadSession } from '../guards.js';
import { cookiePolicy } from '../sessions.js';
import { accountRoutes } from './account.js';
import { accountSessionRoutes } from './account-sessions.js';
import { accountChangeRoutes } from './account-changes.js';
import { accountPhoneRoutes } from './account-phone.js';
import { callbackRoutes } from './callback.js';
import { routeKit, type AppRoutesDeps } from './kit.js';
import { loginRoutes } from './login.js';
import { passkeyLoginRoutes } from './passkey-login.js';
import { passkeyRoutes } from './passkeys.js';
import { passwordRoutes } from './password.js';
import { secondFactor } from './second-factor.js';
import { signupRoutes } from './signup.js';
import { statusStreamRoutes, type StatusStreamHook } from './status-stream.js';

export type { AppRoutesDeps } from './kit.js';
export { STATUS_STREAMS_PER_ATTEMPT } from './status-stream.js';

/**
 * The web app's JSON routes (src/app/README.md has the table), one module per concern: signup,
 * login and its second factor, the status stream, the OneTouch callback, the user's page.
 */
export function appRoutes(d: AppRoutesDeps, o: { responseHeaders?: ((res: ServerResponse) => void) | undefined } = {}): { router: Router; tryServeStatusStream: StatusStreamHook } {
  const k = routeKit(d);
  const sf = secondFactor(k);
  const r = Router();
  r.use(['/user', '/session', '/authy', '/password'], loadSession(d.sessions, cookiePolicy(d.p.config).name));
  r.use(signupRoutes(k));
  r.use(loginRoutes(k, sf));
  r.use(passwordRoutes(k));
  r.use(passkeyLoginRoutes(k, sf));
  r.use(passkeyRoutes(k));
  const status = statusStreamRoutes(k, sf, o);
  r.use(status.router);
  r.use(callbackRoutes(k));
  r.use(accountRoutes(k));
  r.use(accountSessionRoutes(k));
  r.use(accountChangeRoutes(k));
  r.use(accountPhoneRoutes(k));
  return { router: r, tryServeStatusStream: status.tryServe };
}
