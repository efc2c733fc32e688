// The route kit's own logic (src/app/routes/kit.ts): how long to wait, in words, and how a failure
// of the verification service becomes what the browser is told. The rest of the kit (guards,
// limits, the audit trail) is exercised through the routes in the other files here.
import { describe, expect, it } from 'vitest';
import { VerifyServiceError } from '../../../src/app/authy-client.js';
import { fromService, waitInWords } from '../../../src/app/routes/kit.js';
import { HttpError } from '../../../src/platform/errors.js';

describe('waitInWords', () => {
  it.each([
    [1, '1 second'],
    [2, '2 seconds'],
    [40, '40 seconds'],
    [59, '59 seconds'],
    [60, '1 minute'],
    [61, '2 minutes'],
    [120, '2 minutes'],
    [420, '7 minutes'],
    [3600, '60 minutes'],
  ])('when the wait is %i s then it reads "%s"', (seconds, words) => {
    expect(waitInWords(seconds)).toBe(words);
  });
});

describe('fromService', () => {
  /** The mapped error's wire answer, as the app's error handler would send it. */
  const answer = (e: HttpError) => ({ status: e.status, body: { code: e.code, message: e.message, ...(e.options.details ?? {}) }, headers: e.options.headers ?? {} });

  it('when the service says 429 with a Retry-After then 429 RATE_LIMITED with that wait, in words and in the header', () => {
    const e = fromService(new VerifyServiceError(429, '60003', 'Too many requests', { retryAfterSeconds: 90 }));
    expect(answer(e)).toEqual({
      status: 429,
      body: { code: 'RATE_LIMITED', message: 'Too many requests; please try again in 2 minutes', retry_after: 90 },
      headers: { 'Retry-After': '90' },
    });
  });

  it('when the service says 429 without a Retry-After then the wait is 60 s', () => {
    const e = fromService(new VerifyServiceError(429, '60003', 'Too many requests'));
    expect(answer(e)).toEqual({
      status: 429,
      body: { code: 'RATE_LIMITED', message: 'Too many requests; please try again in 1 minute', retry_after: 60 },
      headers: { 'Retry-After': '60' },
    });
  });

  it('when the service refuses another device then 409 TOO_MANY_DEVICES with its message', () => {
    const e = fromService(new VerifyServiceError(409, 'TOO_MANY_DEVICES', 'This account has the most authenticators allowed'));
    expect(answer(e)).toEqual({ status: 409, body: { code: 'TOO_MANY_DEVICES', message: 'This account has the most authenticators allowed' }, headers: {} });
  });

  it.each([
    ['unreachable', 0, 'UNREACHABLE'],
    ['500', 500, '60000'],
    ['503', 503, '60000'],
  ])('when the service is %s then 503 SERVICE_UNAVAILABLE, its cause kept for the log only', (_what, status, code) => {
    const e = fromService(new VerifyServiceError(status, code, 'secret internals'));
    expect(answer(e)).toEqual({ status: 503, body: { code: 'SERVICE_UNAVAILABLE', message: 'The verification service is unavailable; please try again' }, headers: {} });
    expect(e.options.reason).toContain('secret internals');
  });

  it.each([400, 401, 404])('when the service refuses with %i then 502 SERVICE_REFUSED, not the service\'s status or message', (status) => {
    const e = fromService(new VerifyServiceError(status, '60000', 'secret internals'));
    expect(answer(e)).toEqual({ status: 502, body: { code: 'SERVICE_REFUSED', message: 'The verification service refused the request' }, headers: {} });
  });

  it('when the error is already an HttpError then it passes unchanged, and anything else is thrown again', () => {
    const mine = new HttpError(409, 'FACTOR_CONFLICT', 'taken');
    expect(fromService(mine)).toBe(mine);
    const bug = new TypeError('a bug');
    expect(() => fromService(bug)).toThrow(bug);
  });
});
