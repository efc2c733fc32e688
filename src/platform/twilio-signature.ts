import { createHmac } from 'node:crypto';

/**
 * X-Twilio-Signature of a POSTed form: HMAC-SHA1, keyed by the auth token, over the full URL
 * followed by every parameter's name and value in the names' sorted order; base64. What
 * `twilio.validateRequest(authToken, signature, url, params)` checks.
 */
export function twilioSignature(authToken: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, k) => acc + k + params[k], url);
  return createHmac('sha1', authToken).update(Buffer.from(data, 'utf8')).digest('base64');
}
