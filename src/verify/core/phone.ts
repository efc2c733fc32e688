import { getCountryCallingCode, parsePhoneNumberFromString, type CountryCode } from '../../platform/phone-numbers.js';

export interface Phone {
  /** `+<country code><national number>` */
  e164: string;
  /** Country calling code without "+", e.g. "1". */
  countryCode: string;
  /** National significant number, digits only. */
  national: string;
  /** ISO 3166 alpha-2 region, or "" for non-geographic numbers. */
  region: string;
}

/** Parse a country calling code ("1", "+44", 33) → "1" | "44" | ..., or undefined. */
export function parseCountryCode(input: string | undefined): string | undefined {
  if (input === undefined) return undefined;
  const m = /^\s*\+?(\d{1,4})\s*$/.exec(input);
  return m ? String(Number(m[1])) : undefined;
}

/**
 * Validate and normalise a phone number given as national digits (spaces, dashes, dots and
 * parentheses allowed) plus a country calling code; an international "+..." number must agree
 * with the country code. Undefined when invalid.
 */
export function parsePhone(cellphone: string | undefined, countryCodeInput: string | undefined): Phone | undefined {
  const countryCode = parseCountryCode(countryCodeInput);
  if (!countryCode || cellphone === undefined || cellphone.length > 40) return undefined;
  if (!/^[\d\s\-().+]+$/.test(cellphone)) return undefined;
  let parsed: ReturnType<typeof parsePhoneNumberFromString>;
  try {
    parsed = parsePhoneNumberFromString(cellphone, { defaultCallingCode: countryCode });
  } catch {
    // libphonenumber-js throws for calling codes it does not know.
    return undefined;
  }
  if (!parsed || !parsed.isValid() || parsed.countryCallingCode !== countryCode) return undefined;
  return { e164: parsed.number, countryCode, national: parsed.nationalNumber, region: parsed.country ?? '' };
}

export function callingCodeOf(region: string): string | undefined {
  try {
    return getCountryCallingCode(region as CountryCode);
  } catch {
    return undefined;
  }
}

/** Status format: every digit but the last four hidden, grouped like "XXX-XXX-1234". */
export function maskForStatus(national: string): string {
  return group(mask(national, 4));
}

/** SMS answer format: "+1-XXX-XXX-XX67" (last two digits shown). */
export function maskForSms(countryCode: string, national: string): string {
  return `+${countryCode}-${group(mask(national, 2))}`;
}

function mask(digits: string, keep: number): string {
  const k = Math.min(keep, digits.length);
  return 'X'.repeat(digits.length - k) + digits.slice(digits.length - k);
}

function group(s: string): string {
  if (s.length <= 6) return s;
  return `${s.slice(0, 3)}-${s.slice(3, 6)}-${s.slice(6)}`;
}

/** Split an E.164 number back into country code and national number. */
export function splitE164(e164: string): { countryCode: string; national: string } {
  let p: ReturnType<typeof parsePhoneNumberFromString>;
  try {
    p = parsePhoneNumberFromString(e164);
  } catch {
    p = undefined;
  }
  return p ? { countryCode: p.countryCallingCode, national: p.nationalNumber } : { countryCode: '', national: e164.replace(/^\+/, '') };
}
