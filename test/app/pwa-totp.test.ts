import { describe, expect, it } from 'vitest';
import { base32Decode, totpCode } from '../../web/authenticator/totp.js';

// RFC 6238 Appendix B, SHA-1 rows: the PWA's WebCrypto TOTP must produce the published codes.
const SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'; // base32 of "12345678901234567890"

describe('authenticator PWA TOTP (WebCrypto)', () => {
  it('when the RFC 4648 base32 secret is decoded then it is the RFC 6238 key', () => {
    expect(Buffer.from(base32Decode(SECRET)).toString('ascii')).toBe('12345678901234567890');
    expect(() => base32Decode('not base32!')).toThrow();
  });

  it.each([
    [59, '94287082'],
    [1111111109, '07081804'],
    [1111111111, '14050471'],
    [1234567890, '89005924'],
    [2000000000, '69279037'],
    [20000000000, '65353130'],
  ])('when the time is %i s then the 8-digit code is %s', async (seconds, expected) => {
    expect(await totpCode(SECRET, seconds * 1000, 30, 8)).toBe(expected);
  });

  it('when 6 digits are asked then the code is the last 6 of the RFC value', async () => {
    expect(await totpCode(SECRET, 59_000)).toBe('287082');
  });
});
