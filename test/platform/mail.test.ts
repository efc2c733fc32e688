// Email delivery: MAIL_TRANSPORT=smtp through a real SMTP server started here, and the dev outbox.
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mailer } from '../../src/platform/mail/index.js';
import { SmtpTransport } from '../../src/platform/mail/smtp.js';
import { createLogger } from '../../src/platform/logger.js';
import { Browser, eventually, newUser, signUp, signupTokenIn } from '../app/helpers.js';
import { startSmtpServer } from '../helpers/smtp.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

describe('mail through SMTP', () => {
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let t: TestSystem;
  beforeAll(async () => {
    smtp = await startSmtpServer({ auth: { user: 'twofold', pass: 'p@ss/word' } });
    t = await startTestSystem({ env: { MAIL_TRANSPORT: 'smtp', SMTP_URL: `smtp://twofold:${encodeURIComponent('p@ss/word')}@127.0.0.1:${smtp.port}`, MAIL_FROM: 'Twofold Accounts <accounts@example.net>' } });
  });
  afterAll(async () => {
    await t?.stop();
    await smtp?.close();
  });

  it('when a reset link is asked for then the SMTP server receives it from MAIL_FROM, logged in, in text and HTML, with a link that works', async () => {
    const u = newUser();
    // Signup's own link arrives through the same server.
    const signupLink = async (email: string) => {
      const m = await eventually(async () => smtp.received.find((r) => r.envelopeTo.includes(email) && r.mail.subject === 'Twofold: Confirm your email address'));
      return signupTokenIn({ text: m.mail.text ?? '', subject: m.mail.subject ?? '' });
    };
    await signUp(new Browser(t.url), u, { emailToken: signupLink });
    expect((await new Browser(t.url).post('/password/forgot', { email: u.email })).status).toBe(202);
    const got = await eventually(async () => smtp.received.find((r) => r.envelopeTo.includes(u.email) && r.mail.subject === 'Twofold: Reset your password'));
    expect(got.user).toBe('twofold');
    expect(got.mail.from?.value).toEqual([{ address: 'accounts@example.net', name: 'Twofold Accounts' }]);
    expect(got.mail.subject).toBe('Twofold: Reset your password');
    const text = got.mail.text ?? '';
    expect(text).toContain('IP address: 127.0.0.1');
    expect(text).toContain('If this was not you');
    const token = /\/password\/reset#token=([A-Za-z0-9_-]{43})/.exec(text)?.[1];
    expect(token).toBeDefined();
    expect(got.mail.html || '').toContain(`/password/reset#token=${token}`);
    // The same link, from the HTML part, resets the password.
    expect((await new Browser(t.url).post('/password/reset', { token, password: 'a brand new passphrase' })).status).toBe(200);
    // No outbox pages with a real transport.
    expect((await fetch(`${t.url}/dev/mail.json`)).status).toBe(404);
  });
});

describe('a mail server that refuses or is away', () => {
  it('when the server refuses a message for good (554) then send rejects, and post gives up at once and logs neither the body nor the recipient', async () => {
    const smtp = await startSmtpServer({ refuse: true });
    const lines: string[] = [];
    const logger = createLogger('info', { write: (l: string) => void lines.push(l) } as unknown as NodeJS.WritableStream);
    const mailer = new Mailer(new SmtpTransport(`smtp://127.0.0.1:${smtp.port}`, 'x@example.net'), logger);
    try {
      const m = { to: 'owner@example.com', subject: 'Twofold: test', text: 'secret-link-1234', html: '<p>secret-link-1234</p>' };
      await expect(mailer.send(m)).rejects.toThrow(/SMTP delivery failed \(EMESSAGE 554\)/);
      mailer.post(m);
      const gaveUp = await eventually(async () => lines.find((l) => l.includes('giving up')));
      expect(JSON.parse(gaveUp)).toMatchObject({ transport: 'smtp', attempts: 1, reason: 'SMTP delivery failed (EMESSAGE 554)', msg: 'mail "Twofold: test" not delivered; giving up' });
      expect(lines.some((l) => l.includes('will try again'))).toBe(false);
      expect(lines.join('\n')).not.toContain('secret-link-1234');
      expect(lines.join('\n')).not.toContain('owner@example.com');
    } finally {
      mailer.stop();
      await smtp.close();
    }
  });
});

// Threat: someone on the path to a distant SMTP server strips STARTTLS from its greeting, and reads
// the credentials and every reset link in clear.
describe('SMTP downgrade', () => {
  const external = Object.values(networkInterfaces())
    .flat()
    .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;

  it.skipIf(!external)('when a server that is not on this machine offers no STARTTLS then nothing is sent, and no password crosses in clear', async () => {
    const smtp = await startSmtpServer({ auth: { user: 'twofold', pass: 'secret-pass' }, host: '0.0.0.0' });
    const transport = new SmtpTransport(`smtp://twofold:secret-pass@${external}:${smtp.port}`, 'x@example.net');
    try {
      await expect(transport.send({ to: 'owner@example.com', subject: 's', text: 't', html: '<p>t</p>' })).rejects.toThrow(/SMTP delivery failed/);
      expect(smtp.received).toEqual([]);
      expect(smtp.logins).toEqual([]);
    } finally {
      transport.close();
      await smtp.close();
    }
  });

  it('when the server is on this machine then plain SMTP is allowed (the check above can fail)', async () => {
    const smtp = await startSmtpServer({ auth: { user: 'twofold', pass: 'secret-pass' } });
    const transport = new SmtpTransport(`smtp://twofold:secret-pass@127.0.0.1:${smtp.port}`, 'x@example.net');
    try {
      await transport.send({ to: 'owner@example.com', subject: 's', text: 't', html: '<p>t</p>' });
      expect(smtp.received).toHaveLength(1);
      expect(smtp.logins).toEqual(['twofold']);
    } finally {
      transport.close();
      await smtp.close();
    }
  });
});
