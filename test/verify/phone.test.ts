import { describe, expect, it } from 'vitest';
import { maskForSms, maskForStatus, parseCountryCode, parsePhone } from '../../src/verify/core/phone.js';

describe('phone numbers', () => {
  it.each([
    ['201-555-0123', '1', '+12015550123', 'US'],
    ['(201) 555 0123', 1, '+12015550123', 'US'],
    ['+1 201.555.0123', '+1', '+12015550123', 'US'],
    ['06 12 34 56 78', '33', '+33612345678', 'FR'],
  ])('when %s is given with country code %s then it normalises to %s', (cell, cc, e164, region) => {
    expect(parsePhone(cell, String(cc))).toMatchObject({ e164, region });
  });

  it.each([
    ['abc', '1'],
    ['201-555-0123', '999'],
    ['201-555-0123', ''],
    ['+33612345678', '1'],
    ['1'.repeat(41), '1'],
    ['201-555-0123\u0000', '1'],
  ])('when %j with %j is given then it is invalid', (cell, cc) => {
    expect(parsePhone(cell, cc)).toBeUndefined();
  });

  it('when country codes are written in several ways then they normalise', () => {
    expect(parseCountryCode('+44')).toBe('44');
    expect(parseCountryCode(' 1 ')).toBe('1');
    expect(parseCountryCode('001')).toBe('1');
    expect(parseCountryCode('US')).toBeUndefined();
    expect(parseCountryCode('12345')).toBeUndefined();
  });

  it('when masked then only the last digits show, in Authy layout', () => {
    expect(maskForStatus('2015550123')).toBe('XXX-XXX-0123');
    expect(maskForSms('1', '2015550167')).toBe('+1-XXX-XXX-XX67');
    expect(maskForStatus('612345678')).toBe('XXX-XX5-678');
  });
});
