import { describe, expect, it } from 'vitest';
import { generateHotp } from '../../src/verify/core/totp.js';

// RFC 4226 Appendix D: secret "12345678901234567890", HOTP values for counters 0..9.
const SECRET = new TextEncoder().encode('12345678901234567890');
const EXPECTED = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];

describe('RFC 4226 appendix D', () => {
  it.each(EXPECTED.map((code, counter) => ({ counter, code })))('when the counter is $counter then HOTP is $code', ({ counter, code }) => {
    expect(generateHotp(SECRET, counter, { digits: 6, algorithm: 'SHA1' })).toBe(code);
  });
});
