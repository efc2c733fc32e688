import { getCountries, getCountryCallingCode, parsePhoneNumberFromString, type CountryCode } from '../platform/phone-numbers.js';
import * as z from 'zod';
import { HttpError } from '../platform/errors.js';
import { passwordProblem, PASSWORD_MAX_LENGTH } from './passwords.js';
import { normaliseRecoveryCode } from './recovery-codes.js';
import { AppError } from './error-codes.js';

/** ISO country codes libphonenumber knows (made on first use: the library loads then). */
let countries: Set<string> | undefined;

/** Parse `body` with `schema`, or throw 400 VALIDATION with a message per field. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  const fields: Record<string, string> = {};
  for (const issue of r.error.issues) {
    const key = String(issue.path[0] ?? '_');
    fields[key] ??= issue.message;
  }
  const first = Object.entries(fields)[0];
  throw new HttpError(400, AppError.VALIDATION, first ? `${first[0]}: ${first[1]}` : 'Invalid request', { details: { fields } });
}

const text = (max: number) => z.string({ error: 'must be a string' }).max(max, `must be at most ${max} characters`);

export const emailSchema = text(254)
  .trim()
  .toLowerCase()
  .pipe(z.email({ error: 'must be an email address' }));

export const loginSchema = z.object({
  email: emailSchema,
  password: text(PASSWORD_MAX_LENGTH).min(1, 'is required'),
  /** Where the SPA goes after the second factor; only a same-origin path survives. */
  return_to: z.unknown().optional(),
});

/** "Don't ask again on this browser for 30 days", beside a login's second factor. */
const remember = z.boolean({ error: 'must be true or false' }).optional();

export const codeSchema = z.object({
  code: text(32)
    .transform((v) => v.replace(/[\s-]/g, ''))
    .pipe(z.string().regex(/^\d{6,10}$/, 'must be 6 to 10 digits')),
  remember,
});

/** `POST /session/complete`: nothing, or whether to remember the browser. */
export const completeSchema = z.object({ remember });

export interface PhoneChoice {
  /** Dialling code without "+". */
  countryCode: string;
  region: string;
  /** National significant number, digits only. */
  nationalNumber: string;
  e164: string;
}

/**
 * Validate a phone for a country. `country` is an ISO 3166 alpha-2 code ("US") or a dialling code
 * ("1", "+44"); an ISO code disambiguates shared dialling codes (+1 is US, CA and more).
 */
export function parsePhone(country: string, phone: string): PhoneChoice | null {
  const c = country.trim().toUpperCase();
  let parsed;
  if ((countries ??= new Set<string>(getCountries())).has(c)) {
    parsed = parsePhoneNumberFromString(phone, c as CountryCode);
    if (parsed && parsed.countryCallingCode !== getCountryCallingCode(c as CountryCode)) return null;
  } else if (/^\+?\d{1,4}$/.test(c)) {
    try {
      parsed = parsePhoneNumberFromString(phone, { defaultCallingCode: c.replace('+', '') });
    } catch {
      // libphonenumber-js throws for a dialling code it does not know ("999").
      return null;
    }
    if (parsed && parsed.countryCallingCode !== c.replace('+', '')) return null;
  } else {
    return null;
  }
  if (!parsed?.isValid()) return null;
  return {
    countryCode: parsed.countryCallingCode,
    region: parsed.country ?? '',
    nationalNumber: parsed.nationalNumber,
    e164: parsed.number,
  };
}

export const signupSchema = z
  .object({
    fullName: text(100).trim().min(1, 'is required'),
    email: emailSchema,
    password: text(PASSWORD_MAX_LENGTH),
    countryCode: z.union([text(8), z.number().int().min(1).max(9999).transform(String)], { error: 'must be a country' }),
    phone: text(32).trim().min(1, 'is required'),
  })
  .superRefine((v, ctx) => {
    const problem = passwordProblem(v.password);
    if (problem) ctx.addIssue({ code: 'custom', path: ['password'], message: problem });
    if (!parsePhone(v.countryCode, v.phone)) ctx.addIssue({ code: 'custom', path: ['phone'], message: 'is not a valid phone number for this country' });
  })
  .transform((v) => ({ ...v, parsedPhone: parsePhone(v.countryCode, v.phone)! }));

/** A recovery code as typed (any case, dashes and spaces allowed) → its canonical form. */
export const recoveryCodeSchema = z.object({
  code: text(64).transform((v, ctx) => {
    const c = normaliseRecoveryCode(v);
    if (c === null) {
      ctx.addIssue({ code: 'custom', message: 'must be a recovery code like xxxxx-xxxxx' });
      return z.NEVER;
    }
    return c;
  }),
  remember,
});

/** Routes that take no parameters still require a JSON object (or nothing). */
export const emptySchema = z.object({});

export const activationSchema = z.object({ name: text(64).trim().min(1).optional() });

export const deviceIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);

/** A third-party app enrolment's id at the service ('legacy' for the secret from before). */
export const totpAppIdSchema = deviceIdSchema;

export const reauthSchema = z.object({ password: text(PASSWORD_MAX_LENGTH).min(1, 'is required') });

export const forgotPasswordSchema = z.object({ email: emailSchema });

/** The account page's password change: the current password, and a new one checked as signup checks it. */
export const changePasswordSchema = z
  .object({
    current_password: text(PASSWORD_MAX_LENGTH).min(1, 'is required'),
    password: text(PASSWORD_MAX_LENGTH),
  })
  .superRefine((v, ctx) => {
    const problem = passwordProblem(v.password);
    if (problem) ctx.addIssue({ code: 'custom', path: ['password'], message: problem });
    else if (v.password === v.current_password) ctx.addIssue({ code: 'custom', path: ['password'], message: 'is your current password; choose a new one' });
  });

export const changeEmailSchema = z.object({ email: emailSchema });

/** A new phone for the account: the signup form's two fields, checked the same way. */
export const changePhoneSchema = z
  .object({
    countryCode: z.union([text(8), z.number().int().min(1).max(9999).transform(String)], { error: 'must be a country' }),
    phone: text(32).trim().min(1, 'is required'),
  })
  .superRefine((v, ctx) => {
    if (!parsePhone(v.countryCode, v.phone)) ctx.addIssue({ code: 'custom', path: ['phone'], message: 'is not a valid phone number for this country' });
  })
  .transform((v) => ({ ...v, parsedPhone: parsePhone(v.countryCode, v.phone)! }));

/** A reset link's token (43 base64url characters) and the new password, checked as signup checks it. */
export const resetPasswordSchema = z
  .object({
    token: text(64).regex(/^[A-Za-z0-9_-]{43}$/, 'is not a reset link token'),
    password: text(PASSWORD_MAX_LENGTH),
  })
  .superRefine((v, ctx) => {
    const problem = passwordProblem(v.password);
    if (problem) ctx.addIssue({ code: 'custom', path: ['password'], message: problem });
  });

const linkToken = text(64).regex(/^[A-Za-z0-9_-]{43}$/, 'is not a link token');

/** The token of an emailed link (43 base64url characters). */
export const verifyEmailSchema = z.object({ token: linkToken });

/** A signup's email link, with the signup's password when opened in another browser than the signup's. */
export const signupLinkSchema = z.object({ token: linkToken, password: text(PASSWORD_MAX_LENGTH).min(1, 'is required').optional() });
