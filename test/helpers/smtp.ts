import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  envelopeTo: string[];
  user: string | undefined;
  mail: ParsedMail;
}

/**
 * A real SMTP server on a free loopback port (smtp-server), keeping what it receives, parsed.
 * With `auth`, it demands those credentials; `refuse` makes it answer every message with 554.
 */
export async function startSmtpServer(o: { auth?: { user: string; pass: string }; refuse?: boolean; host?: string } = {}) {
  const received: ReceivedMail[] = [];
  /** Users that logged in (whatever the credentials' outcome), in order. */
  const logins: string[] = [];
  const server = new SMTPServer({
    disabledCommands: o.auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    allowInsecureAuth: true,
    authOptional: !o.auth,
    logger: false,
    onAuth(auth, _session, cb) {
      logins.push(auth.username ?? '');
      if (o.auth && auth.username === o.auth.user && auth.password === o.auth.pass) cb(null, { user: auth.username });
      else cb(new Error('Invalid username or password'));
    },
    onData(stream, session, cb) {
      if (o.refuse) {
        stream.resume();
        stream.on('end', () => cb(Object.assign(new Error('Message refused'), { responseCode: 554 })));
        return;
      }
      simpleParser(stream)
        .then((mail) => {
          const user = session.user === undefined ? undefined : String(session.user);
          received.push({ envelopeTo: session.envelope.rcptTo.map((r) => r.address), user, mail });
          cb();
        })
        .catch(cb);
    },
  });
  await new Promise<void>((resolve) => server.listen(0, o.host ?? '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    received,
    logins,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
