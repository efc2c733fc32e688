import { escapeHtml } from '../platform/html.js';
import type { MailMessage } from '../platform/mail/index.js';
import { shortBrowserName } from './user-agent.js';

/** Where a request came from, as a message tells its reader. */
export interface RequestOrigin {
  at: number;
  ip: string;
  userAgent: string | undefined;
}

/** What a notice is about: each says what happened; none carries a code or a link that logs in. */
export type NoticeKind =
  | 'password_changed'
  | 'password_reset'
  | 'authenticator_added'
  | 'authenticator_removed'
  | 'totp_app_set'
  | 'totp_app_removed'
  | 'recovery_codes_generated'
  | 'recovery_code_used'
  | 'new_browser_login'
  | 'second_factor_locked'
  | 'signup_attempt'
  | 'email_change_requested'
  | 'email_changed'
  | 'phone_changed'
  | 'passkey_added'
  | 'passkey_removed'
  | 'passkey_cloned';

const NOTICES: Record<NoticeKind, { subject: string; happened: string; ifNotYou: string }> = {
  password_changed: {
    subject: 'Your password was changed',
    happened: 'The password of your account was changed.',
    ifNotYou: 'Reset your password from the login page ("Forgot your password?") and review your authenticators on your account page.',
  },
  password_reset: {
    subject: 'Your password was reset',
    happened: 'The password of your account was reset with a link sent to this address. Every session of the account was ended.',
    ifNotYou: 'Someone can read this mailbox: secure it, then reset your password again. They still could not log in without your second factor.',
  },
  authenticator_added: {
    subject: 'An authenticator is being added to your account',
    happened: 'A link to add an authenticator to your account was made. The device that opens it in the next 10 minutes can approve your logins.',
    ifNotYou: 'Log in, remove any authenticator you do not know from your account page, and change your password.',
  },
  authenticator_removed: {
    subject: 'An authenticator was removed from your account',
    happened: 'An authenticator was removed from your account; it can no longer approve your logins.',
    ifNotYou: 'Log in and review your authenticators, then change your password.',
  },
  totp_app_set: {
    subject: 'An authenticator app was set up on your account',
    happened: 'A third-party authenticator app was set up on your account; its codes now log you in.',
    ifNotYou: 'Log in, remove the app from your account page, and change your password.',
  },
  totp_app_removed: {
    subject: 'An authenticator app was removed from your account',
    happened: 'A third-party authenticator app was removed from your account; its codes no longer work.',
    ifNotYou: 'Log in and review your authenticators, then change your password.',
  },
  recovery_codes_generated: {
    subject: 'New recovery codes were made for your account',
    happened: 'New recovery codes were made for your account. The earlier ones no longer work.',
    ifNotYou: 'Log in, make new recovery codes, and change your password.',
  },
  recovery_code_used: {
    subject: 'A recovery code was used to log in to your account',
    happened: 'One of your recovery codes was used instead of your second factor to log in. It cannot be used again.',
    ifNotYou: 'Someone has your password and a recovery code: log in, make new recovery codes, and change your password.',
  },
  new_browser_login: {
    subject: 'New login to your account',
    happened: 'Your account was logged in to from a browser it had not been used from before.',
    ifNotYou: 'Someone has your password and your second factor: log in, end the sessions you do not know, change your password and review your authenticators.',
  },
  email_change_requested: {
    subject: 'A change of your email address was asked for',
    happened: 'A change of the email address of your account was asked for. A link went to the new address; until it is opened, nothing changes and mail still comes here.',
    ifNotYou: 'Someone is logged in to your account and passed its second factor: log in, end the sessions you do not know, and change your password.',
  },
  email_changed: {
    subject: 'Your email address was changed',
    happened: 'The email address of your account was changed; mail now goes to the new address, and this one no longer logs in.',
    ifNotYou: 'Someone took over your account: log in with your phone\'s second factor if you still can, or contact the people who run this site.',
  },
  phone_changed: {
    subject: 'Your phone number was changed',
    happened: 'The phone number of your account was changed: text-message codes now go to the new number.',
    ifNotYou: 'Someone is logged in to your account and passed its second factor: log in, end the sessions you do not know, change your password and review your authenticators.',
  },
  passkey_added: {
    subject: 'A passkey was added to your account',
    happened: 'A passkey was added to your account: the device or password manager that holds it can now sign in to your account.',
    ifNotYou: 'Log in, remove the passkey you do not know from your account page, end the sessions you do not know, and change your password.',
  },
  passkey_removed: {
    subject: 'A passkey was removed from your account',
    happened: 'A passkey was removed from your account; it can no longer sign in.',
    ifNotYou: 'Log in, review your passkeys and authenticators, and change your password.',
  },
  passkey_cloned: {
    subject: 'One of your passkeys may have been copied',
    happened: 'A sign-in used one of your passkeys with a signature counter lower than the last one we saw, which is what a copy of the authenticator would do. That sign-in was refused, and the passkey is refused from now on.',
    ifNotYou: 'Log in with another factor, remove that passkey from your account page, check the device or password manager that held it, and change your password.',
  },
  signup_attempt: {
    subject: 'Someone tried to sign up with your address',
    happened: 'Someone tried to create an account with this email address, which already has one. Nothing was created and your account did not change.',
    ifNotYou: 'You need not do anything: they cannot use this address without this mailbox. If it was you, log in with your password, or use "Forgot your password?" on the login page.',
  },
  second_factor_locked: {
    subject: 'Too many wrong codes at a login to your account',
    happened: 'Your password was entered correctly, then too many wrong second-factor codes, so that login was ended.',
    ifNotYou: 'Someone knows your password: change it now (log in, or use "Forgot your password?"). Your second factor kept them out.',
  },
};

const appName = 'Twofold';

function originLines(o: RequestOrigin): string[] {
  return [`When: ${new Date(o.at).toUTCString()}`, `Browser: ${shortBrowserName(o.userAgent)}`, `IP address: ${o.ip}`];
}

function message(to: string, subject: string, paragraphs: string[], details: string[], link?: { label: string; url: string }): MailMessage {
  const text = [...paragraphs.slice(0, 1), ...(link ? [`${link.label}:\n${link.url}`] : []), details.join('\n'), ...paragraphs.slice(1), `— ${appName}`].join('\n\n');
  const p = (s: string) => `<p>${escapeHtml(s)}</p>`;
  const html = [
    '<!doctype html><html><body style="font-family:system-ui,sans-serif;line-height:1.5">',
    ...paragraphs.slice(0, 1).map(p),
    ...(link ? [`<p><a href="${escapeHtml(link.url)}">${escapeHtml(link.label)}</a></p>`] : []),
    `<p>${details.map(escapeHtml).join('<br>')}</p>`,
    ...paragraphs.slice(1).map(p),
    `<p>— ${appName}</p>`,
    '</body></html>',
  ].join('\n');
  return { to, subject: `${appName}: ${subject}`, text, html };
}

/** A notice of something done to the account: what, when, from which browser and address, and what to do if it was not the reader. */
export function noticeMail(to: string, kind: NoticeKind, o: RequestOrigin): MailMessage {
  const n = NOTICES[kind];
  return message(to, n.subject, [n.happened, `If this was not you: ${n.ifNotYou}`, 'If it was you, there is nothing to do.'], originLines(o));
}

/** A mail whose point is one single-use link: what it does, how long it works, and what to do if it was not asked for. */
function linkMail(to: string, subject: string, what: string, ifNotYou: string, link: { label: string; url: string }, o: RequestOrigin): MailMessage {
  return message(to, subject, [what, ifNotYou], originLines(o), link);
}

/** The password reset link (single use, valid for `minutes`). */
export function resetLinkMail(to: string, url: string, minutes: number, o: RequestOrigin): MailMessage {
  return linkMail(
    to,
    'Reset your password',
    `Someone asked to reset the password of the account of this address. The link works once, for ${minutes} minutes; a newer request or a login ends it.`,
    'If this was not you, ignore this message: your password stays as it is, and the link cannot log anyone in by itself (the next login still asks for your second factor).',
    { label: 'Choose a new password', url },
    o,
  );
}

/** The link that finishes a signup (single use, valid for `hours`). */
export function verifyEmailMail(to: string, url: string, hours: number, who: { phoneEnd: string }, o: RequestOrigin): MailMessage {
  return linkMail(
    to,
    'Confirm your email address',
    // Nothing the person signing up typed as text (a name could carry a phishing line): only the
    // last digits of the phone they proved.
    `This address was given at a signup with a phone number ending in ${who.phoneEnd}. If that was you, open the link to confirm the address and finish creating your account. It works once, for ${hours} hours, in the browser you signed up in (elsewhere it asks for the password you chose).`,
    'If you did not sign up, ignore this message: no account is created without this link and the password chosen at signup.',
    { label: 'Confirm my email address', url },
    o,
  );
}

/** The link that moves an account to a new address (sent to that address; single use). */
export function emailChangeMail(to: string, url: string, hours: number, o: RequestOrigin): MailMessage {
  return linkMail(
    to,
    'Confirm your new email address',
    `Open the link to make this the email address of your account. It works once, for ${hours} hours.`,
    'If you did not ask for this, ignore this message: nothing changes without the link.',
    { label: 'Use this email address', url },
    o,
  );
}
