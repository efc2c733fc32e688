import { AppError } from '../../../src/app/error-codes.js';
import { h } from '../../shared/dom.js';
import { api } from '../api.js';
import { linkToken } from '../link-page.js';
import { footerLink, navigate, page } from '../router.js';
import { actionForm, alertBox, field, fieldError, formatWait, setAlert } from '../ui.js';

/** "Forgot your password?": the address; the same answer whether or not an account has it. */
export function forgotPassword(): void {
  const fEmail = field('email', 'Email', h('input', { type: 'email', autocomplete: 'username', required: true, autofocus: true }));
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Send me a link');
  const form = actionForm(
    {
      submit,
      busyLabel: 'Sending…',
      alert,
      fields: [fEmail],
      check: () => (/^\S+@\S+\.\S+$/.test(fEmail.input.value.trim()) ? undefined : 'Enter the email address of your account.'),
      invalid: fEmail,
      send: async () => {
        const r = await api<{ expires_in_minutes: number }>('POST', '/password/forgot', { email: fEmail.input.value.trim() });
        page(
          'Check your email',
          h('p', { role: 'status' }, `If an account uses ${fEmail.input.value.trim()}, we sent it a link to choose a new password. The link works once, for ${r.expires_in_minutes} minutes.`),
          h('p', {}, 'No email? Check your spam folder, or ask again in a few minutes.'),
          footerLink('', '/login', 'Back to log in'),
        );
      },
      failed: (e) => {
        if (e?.status === 429) setAlert(alert, `Too many requests. Try again in ${formatWait(e.retry_after ?? 60)}.`);
        else if (e?.fields?.['email']) fieldError(fEmail, 'Enter the email address of your account.');
        else setAlert(alert, e?.message ?? 'That did not work. Please try again.');
      },
    },
    alert,
    h('p', {}, 'Enter the email address of your account. We will send it a link to choose a new password.'),
    fEmail.wrap,
    submit,
  );
  page('Forgot your password?', form, footerLink('Remembered it? ', '/login', 'Log in'));
}

/** The page a reset link opens: the token is in the fragment (#token=…), never sent in a URL. */
export function resetPassword(): void {
  const token = linkToken();
  if (!token) {
    page('This link does not work', h('p', {}, 'Open the link from the email again, all of it, or ask for a new one.'), footerLink('', '/password/forgot', 'Ask for a new link'));
    return;
  }
  // Keep the token out of the history and of anything that reads the address from now on.
  history.replaceState(null, '', '/password/reset');
  const fPassword = field('password', 'New password', h('input', { type: 'password', autocomplete: 'new-password', required: true, autofocus: true, minlength: '8', maxlength: '256' }), 'At least 8 characters; common passwords are refused.');
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Set new password');
  const form = actionForm(
    {
      submit,
      busyLabel: 'Saving…',
      alert,
      fields: [fPassword],
      check: () => ([...fPassword.input.value].length >= 8 ? undefined : 'Use at least 8 characters.'),
      invalid: fPassword,
      send: async () => {
        await api('POST', '/password/reset', { token, password: fPassword.input.value });
        navigate('/login', { notice: 'Your password was changed and every session of your account was ended. Log in with the new password; you will still be asked for your second factor.' }, true);
      },
      failed: (e) => {
        if (e?.code === AppError.RESET_LINK_INVALID) {
          page('This link has expired', h('p', {}, e.message), footerLink('', '/password/forgot', 'Ask for a new link'));
        } else if (e?.fields?.['password']) fieldError(fPassword, e.fields['password']);
        else if (e?.status === 429) setAlert(alert, `Too many tries. Try again in ${formatWait(e.retry_after ?? 60)}.`);
        else setAlert(alert, e?.message ?? 'That did not work. Please try again.');
      },
    },
    alert,
    fPassword.wrap,
    submit,
  );
  page('Choose a new password', form);
}
