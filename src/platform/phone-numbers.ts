import { createRequire } from 'node:module';
import type * as Min from 'libphonenumber-js';
import type * as Max from 'libphonenumber-js/max';

/**
 * libphonenumber-js, loaded on the first call rather than at start: its ES module builds (the
 * default and the full metadata) are 134 files that cost a start 60-80 ms of CPU, while no phone
 * number is parsed before the first signup or SMS. Its CommonJS build is loaded with `require`,
 * synchronously, so the functions keep their signatures; the first call pays for the load (about
 * 50 ms on a busy machine, less than 10 ms more for the other metadata).
 *
 * The default ("min") metadata validates and formats numbers; the full ("max") metadata also
 * tells a number's type (mobile, fixed line, VoIP…), which the SMS gate needs.
 */
const load = createRequire(import.meta.url);
let min: typeof Min | undefined;
let max: typeof Max | undefined;

const minLib = () => (min ??= load('libphonenumber-js') as typeof Min);
const maxLib = () => (max ??= load('libphonenumber-js/max') as typeof Max);

export type { CountryCode, NumberType, PhoneNumber } from 'libphonenumber-js';

export const parsePhoneNumberFromString = ((...args: Parameters<typeof Min.parsePhoneNumberFromString>) =>
  minLib().parsePhoneNumberFromString(...args)) as typeof Min.parsePhoneNumberFromString;

export const getCountries: typeof Min.getCountries = () => minLib().getCountries();

export const getCountryCallingCode: typeof Min.getCountryCallingCode = (country) => minLib().getCountryCallingCode(country);

/** `parsePhoneNumberFromString` with the full metadata: the result's `getType()` answers. */
export const parsePhoneNumberWithTypes = ((...args: Parameters<typeof Max.parsePhoneNumberFromString>) =>
  maxLib().parsePhoneNumberFromString(...args)) as typeof Max.parsePhoneNumberFromString;
