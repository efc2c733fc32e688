import { describe, expect, it } from 'vitest';
import { randomBytes, randomInt } from 'node:crypto';
import { HOTP, Secret } from 'otpauth';
import { generateHotp } from '../../src/verify/core/totp.js';

// RFC 4226 Appendix D: secret "12345678901234567890", HOTP values for counters 0..9.
const SECRET = new TextEncoder().encode('12345678901234567890');
const EXPECTED = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];

describe('RFC 4226 appendix D', () => {
  it.each(EXPECTED.map((code, counter) => ({ counter, code })))('when the counter is $counter then HOTP is $code', ({ counter, code }) => {
    expect(generateHotp(SECRET, counter, { digits: 6, algorithm: 'SHA1' })).toBe(code);
  });
});

// The same codes as otpauth (the library behind the URIs and the authenticator's display) for any
// secret, algorithm, length and counter, counters past 2^32 included.
describe('HOTP against otpauth', () => {
  it('when 300 random secrets, counters, algorithms and lengths are computed by both then every code is the same', () => {
    const algorithms = ['SHA1', 'SHA256', 'SHA512'] as const;
    for (let i = 0; i < 300; i++) {
      const secret = randomBytes(10 + (i % 55));
      const counter = i % 3 === 0 ? 2 ** 32 + randomInt(2 ** 40) : randomInt(2 ** 31);
      const algorithm = algorithms[i % 3]!;
      const digits = 6 + (i % 3);
      const theirs = HOTP.generate({ secret: new Secret({ buffer: new Uint8Array(secret).buffer }), algorithm, digits, counter });
      expect(generateHotp(secret, counter, { algorithm, digits }), `${algorithm} ${digits} digits, counter ${counter}`).toBe(theirs);
    }
  });
});
