import { getCountries, getCountryCallingCode, type CountryCode } from 'libphonenumber-js';

export interface Country {
  code: CountryCode;
  name: string;
  dial: string;
}

/** Every country libphonenumber knows, with its dialling code, sorted by name in the UI language. */
export function countryList(locale = navigator.language || 'en'): Country[] {
  let names: Intl.DisplayNames | undefined;
  try {
    names = new Intl.DisplayNames([locale, 'en'], { type: 'region' });
  } catch {
    names = undefined;
  }
  return getCountries()
    .map((code) => ({ code, name: names?.of(code) ?? code, dial: getCountryCallingCode(code) }))
    .sort((a, b) => a.name.localeCompare(b.name, locale));
}

/** A first guess at the user's country from the browser locale ("en-GB" → GB), US otherwise. */
export function guessCountry(): CountryCode {
  const region = (navigator.language || '').split('-')[1]?.toUpperCase();
  return (getCountries() as string[]).includes(region ?? '') ? (region as CountryCode) : 'US';
}
