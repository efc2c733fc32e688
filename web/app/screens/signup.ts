import { AsYouType, type CountryCode, parsePhoneNumberFromString } from 'libphonenumber-js';
import { AppError } from '../../../src/app/error-codes.js';
import { h } from '../../shared/dom.js';
import { oneClickLinkPage } from '../link-page.js';
import { api, type ApiError } from '../api.js';
import { countryList, guessCountry } from '../countries.js';
import { flow, footerLink, link, navigate, onLeave, page, root } from '../router.js';
import { actionForm, alertBox, coolDown, failureOf, field, fieldError, formatWait, otpInput, otpValue, setAlert, wrongCodeText } from '../ui.js';

/**
 * Signup's phone step: a query on /signup rather than a path of its own, so that a reload there
 * is served the app (the server serves it only on its list of SPA routes).
 */
const SIGNUP_PHONE_STEP = '/signup?step=phone';
const SIGNUP_EMAIL_STEP = '/signup?step=email';

/** What `POST /user` and `GET /user/signup` say about a signup waiting for its phone code. */
interface PendingSignupView {
  state: 'verify_phone';
  phone: string;
  retry_after: number;
  attempts_left: number;
  expires_at: number;
}

/** After the phone: the signup waits for its email link. */
interface EmailStepView {
  state: 'verify_email';
  email: string;
  retry_after: number;
  expires_at: number;
}

export function signup(): void {
  const countries = countryList();
  const initial = guessCountry();
  const select = h(
    'select',
    { autocomplete: 'country' },
    countries.map((c) => h('option', { value: c.code, selected: c.code === initial }, `${c.name} (+${c.dial})`)),
  );
  const fName = field('fullName', 'Full name', h('input', { type: 'text', autocomplete: 'name', required: true, maxlength: '100', autofocus: true }));
  const fEmail = field('email', 'Email', h('input', { type: 'email', autocomplete: 'email', required: true, maxlength: '254' }));
  const fPassword = field('password', 'Password', h('input', { type: 'password', autocomplete: 'new-password', required: true, minlength: '8', maxlength: '256' }), 'At least 8 characters; common passwords are refused.');
  const fCountry = field('countryCode', 'Country', select);
  const phoneInput = h('input', { type: 'tel', autocomplete: 'tel-national', required: true, maxlength: '32', inputmode: 'tel' });
  const fPhone = field('phone', 'Mobile phone', phoneInput, 'We text a code to this number to check it is yours, and later login codes.');
  const phoneStatus = h('p', { class: 'hint', 'aria-live': 'polite' });
  fPhone.wrap.append(phoneStatus);

  const checkPhone = (): boolean => {
    const country = select.value as CountryCode;
    const value = phoneInput.value.trim();
    if (!value) {
      phoneStatus.textContent = '';
      phoneInput.removeAttribute('aria-invalid');
      return false;
    }
    const parsed = parsePhoneNumberFromString(value, country);
    const ok = !!parsed?.isValid() && parsed.country === country;
    phoneInput.setAttribute('aria-invalid', String(!ok));
    phoneStatus.dataset.ok = String(ok);
    phoneStatus.textContent = ok ? `✓ ${parsed!.formatInternational()}` : `Not a valid number for this country yet (${new AsYouType(country).input(value)})`;
    return ok;
  };
  phoneInput.addEventListener('input', checkPhone);
  select.addEventListener('change', checkPhone);

  const alert = alertBox(flow.notice ?? '');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create account');
  const fields = { fullName: fName, email: fEmail, password: fPassword, countryCode: fCountry, phone: fPhone };
  const form = actionForm(
    {
      submit,
      busyLabel: 'Creating…',
      alert,
      fields: Object.values(fields),
      check: () => (checkPhone() ? undefined : 'Enter a valid mobile number for the selected country.'),
      invalid: (message) => {
        fPhone.error.textContent = message;
        phoneInput.focus();
      },
      send: async () => {
        const r = await api<PendingSignupView>('POST', '/user', {
          fullName: fName.input.value,
          email: fEmail.input.value,
          password: fPassword.input.value,
          countryCode: select.value,
          phone: phoneInput.value,
        });
        navigate(SIGNUP_PHONE_STEP, { phone: r.phone, retryAfter: r.retry_after, attemptsLeft: r.attempts_left });
      },
      failed: (e2) => {
        let focused = false;
        for (const [k, msg] of Object.entries(e2?.fields ?? {})) {
          const f = fields[k as keyof typeof fields];
          if (!f) continue;
          f.error.textContent = `${msg.charAt(0).toUpperCase()}${msg.slice(1)}`;
          f.input.setAttribute('aria-invalid', 'true');
          if (!focused) {
            f.input.focus();
            focused = true;
          }
        }
        if (!focused) {
          if (e2?.status === 429) setAlert(alert, `Too many sign-ups or codes from here. Try again in ${formatWait(e2.retry_after ?? 60)}.`);
          else setAlert(alert, e2?.message ?? 'Sign-up failed. Please try again.');
        }
      },
    },
    alert,
    fName.wrap,
    fEmail.wrap,
    fPassword.wrap,
    fCountry.wrap,
    fPhone.wrap,
    submit,
  );
  page('Create an account', form, footerLink('Already have an account? ', '/login', 'Log in'));
}

/** Signup's second step: the code texted to the phone creates the account. */
export async function signupVerify(): Promise<void> {
  let view: Pick<PendingSignupView, 'phone' | 'retry_after' | 'attempts_left'>;
  if (flow.phone) {
    view = { phone: flow.phone, retry_after: flow.retryAfter ?? 0, attempts_left: flow.attemptsLeft ?? 5 };
  } else {
    // Loaded directly (reload, or back to this step): ask the server where the signup stands.
    try {
      const where = await api<PendingSignupView | EmailStepView>('GET', '/user/signup');
      if (where.state === 'verify_email') {
        navigate(SIGNUP_EMAIL_STEP, { email: where.email, retryAfter: where.retry_after }, true);
        return;
      }
      view = where;
    } catch (err) {
      const e2 = failureOf(err);
      navigate('/signup', { notice: e2?.code === AppError.SIGNUP_EXPIRED ? 'Your sign-up was not finished in time, so nothing was created. Fill in the form again.' : (e2?.message ?? 'Fill in the form to create an account.') }, true);
      return;
    }
  }
  const input = otpInput(true);
  const f = field('phone-code', 'Code from the text message', input, `The code has 6 digits. It works for 10 minutes.`);
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Verify');
  const resend = h('button', { type: 'button', class: 'secondary' }, 'Resend code');
  const cool = coolDown(resend);
  onLeave(cool.stop);

  /** The signup is over (too many wrong codes, or it expired): say so and lead back to the form. */
  const over = (message: string) => {
    cool.stop();
    page(
      'Sign-up stopped',
      h('div', { class: 'alert', role: 'alert' }, message),
      h('p', {}, 'Nothing was created. You can fill in the form again to get a new code.'),
      h('nav', { class: 'actions' }, link('/signup', 'Fill in the form again')),
    );
    root.querySelector<HTMLElement>('h1')?.focus();
  };
  const overMessage = (e2: ApiError) => (e2.code === AppError.TOO_MANY_ATTEMPTS ? 'Too many wrong codes, so this sign-up was stopped.' : 'This sign-up has ended: the code was not entered in time.');

  resend.addEventListener('click', async () => {
    setAlert(alert, '');
    resend.disabled = true;
    try {
      const r = await api<{ retry_after: number }>('POST', '/user/resend-phone', {});
      setAlert(alert, `We sent a new code to ${view.phone}. Only the newest code works. You can ask for another one in ${r.retry_after} seconds.`, 'info');
      f.error.textContent = '';
      input.removeAttribute('aria-invalid');
      cool.start(r.retry_after);
    } catch (err) {
      const e2 = failureOf(err);
      if (e2?.code === AppError.SIGNUP_EXPIRED) return over(overMessage(e2));
      if (e2?.code === AppError.COOL_DOWN) setAlert(alert, `Please wait ${e2.retry_after ?? 30} seconds before asking for another code.`);
      else if (e2?.status === 429) setAlert(alert, `Too many codes were sent to this number. Try again in ${formatWait(e2.retry_after ?? 60)}.`);
      else setAlert(alert, e2?.message ?? 'Could not send a code. Try again in a moment.');
      if (e2?.retry_after) cool.start(e2.retry_after);
      else resend.disabled = false;
    }
    input.focus();
  });

  const form = actionForm(
    {
      submit,
      busyLabel: 'Verifying…',
      alert,
      fields: [f],
      check: () => (otpValue(input) ? undefined : 'Enter the 6-digit code from the text message.'),
      invalid: f,
      send: async () => {
        const r = await api<EmailStepView>('POST', '/user/verify-phone', { code: otpValue(input) });
        navigate(SIGNUP_EMAIL_STEP, { email: r.email, retryAfter: r.retry_after }, true);
      },
      failed: (e2) => {
        if (e2 && (e2.code === AppError.TOO_MANY_ATTEMPTS || e2.code === AppError.SIGNUP_EXPIRED)) return over(overMessage(e2));
        if (e2?.code === AppError.CODE_EXPIRED) return fieldError(f, wrongCodeText({ ...e2, message: 'That code has expired or a newer one was sent. Use the newest code, or select “Resend code”.' }));
        fieldError(f, wrongCodeText(e2));
      },
    },
    alert,
    f.wrap,
    h('div', { class: 'actions' }, submit, resend),
    cool.note,
  );
  page(
    'Confirm your phone',
    h('p', {}, 'Enter the code we texted to ', h('strong', { 'data-testid': 'signup-phone', class: 'nowrap' }, view.phone), '.'),
    form,
    footerLink('Wrong number? ', '/signup', 'Go back to the form'),
  );
  if (view.attempts_left < 5) f.error.textContent = `${view.attempts_left} ${view.attempts_left === 1 ? 'try' : 'tries'} left.`;
  if (view.retry_after > 0) cool.start(view.retry_after);
}

/** Signup's third step: the link mailed to the address; it can be sent again. */
export async function signupCheckEmail(): Promise<void> {
  let email = flow.email;
  let retryAfter = flow.retryAfter ?? 0;
  if (email === undefined) {
    try {
      const where = await api<PendingSignupView | EmailStepView>('GET', '/user/signup');
      if (where.state !== 'verify_email') return navigate(SIGNUP_PHONE_STEP, {}, true);
      email = where.email;
      retryAfter = where.retry_after;
    } catch {
      navigate('/signup', { notice: 'Fill in the form to create an account.' }, true);
      return;
    }
  }
  const alert = alertBox();
  const resend = h('button', { type: 'button', class: 'secondary' }, 'Send the link again');
  const cool = coolDown(resend);
  onLeave(cool.stop);
  resend.addEventListener('click', async () => {
    setAlert(alert, '');
    resend.disabled = true;
    try {
      const r = await api<{ retry_after: number }>('POST', '/user/resend-email', {});
      setAlert(alert, `We sent a new link to ${email}. Only the newest link works.`, 'info');
      cool.start(r.retry_after);
    } catch (err) {
      const e2 = failureOf(err);
      if (e2?.code === AppError.SIGNUP_EXPIRED) return navigate('/signup', { notice: 'Your sign-up was not finished in time, so nothing was created. Fill in the form again.' }, true);
      setAlert(alert, e2?.code === AppError.COOL_DOWN ? `Please wait ${e2.retry_after ?? 30} seconds before asking again.` : (e2?.message ?? 'Could not send the link. Try again in a moment.'));
      if (e2?.retry_after) cool.start(e2.retry_after);
      else resend.disabled = false;
    }
  });
  page(
    'Check your email',
    h('p', { role: 'status' }, 'Your phone is confirmed. We sent a link to ', h('strong', { 'data-testid': 'signup-email' }, email), '. Open it to finish creating your account; it works for 24 hours.'),
    alert,
    h('p', {}, 'No email? Check your spam folder, or send the link again.'),
    h('div', { class: 'actions' }, resend),
    cool.note,
  );
  if (retryAfter > 0) cool.start(retryAfter);
}

/** The page a signup's email link opens (#token=…): one click creates the account and logs in. */
export function signupVerifyEmail(): void {
  oneClickLinkPage({
    path: '/signup/verify-email',
    title: 'Confirm your email',
    intro: 'Your email address is confirmed by this link. One more step: create the account.',
    button: 'Finish creating my account',
    busy: 'Creating your account…',
    back: { text: 'Sign up', path: '/signup' },
    send: async (token) => {
      await api('POST', '/user/verify-email', { token });
      navigate('/account', { notice: 'Welcome! Your phone and email are confirmed and your account is ready. Add an authenticator to approve logins from your phone.' }, true);
    },
    refused: (e, token) => {
      if (e.code === AppError.PASSWORD_REQUIRED) signupLinkWithPassword(token, e.message);
      else if (e.code === AppError.SIGNUP_LINK_INVALID) page('This link has expired', h('p', {}, e.message), footerLink('', '/signup', 'Sign up again'));
      else if (e.code === AppError.EMAIL_TAKEN) page('You already have an account', h('p', {}, e.message), footerLink('', '/login', 'Log in'), footerLink('', '/password/forgot', 'Forgot your password?'));
      else return false;
      return true;
    },
  });
}

/** The signup's link in another browser: the password chosen at signup finishes it. */
function signupLinkWithPassword(token: string, why: string): void {
  const f = field('signup-password', 'Password', h('input', { type: 'password', autocomplete: 'current-password', required: true, autofocus: true }));
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Finish creating my account');
  const form = actionForm(
    {
      submit,
      busyLabel: 'Creating your account…',
      alert,
      fields: [f],
      check: () => (f.input.value ? undefined : 'Enter the password you chose when signing up.'),
      invalid: f,
      send: async () => {
        await api('POST', '/user/verify-email', { token, password: f.input.value });
        navigate('/account', { notice: 'Welcome! Your phone and email are confirmed and your account is ready. Add an authenticator to approve logins from your phone.' }, true);
      },
      failed: (e) => {
        if (e?.fields?.['password']) return fieldError(f, 'That is not the password chosen when signing up.');
        if (e?.code === AppError.SIGNUP_LINK_INVALID) return void page('This link has expired', h('p', {}, e.message), footerLink('', '/signup', 'Sign up again'));
        setAlert(alert, e?.status === 429 ? `Too many tries. Try again in ${formatWait(e.retry_after ?? 60)}.` : (e?.message ?? 'That did not work. Please try again.'));
      },
    },
    alert,
    h('p', {}, why),
    f.wrap,
    submit,
  );
  page('Confirm your email', form);
}
