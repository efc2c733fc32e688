import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TOTP } from 'otpauth';
import { expect } from 'vitest';
import { canonicalJson } from '../../src/protocol/device.js';

/** A browser stand-in: keeps the session cookie, sends JSON with this site's Origin. */
export class Browser {
  /** Shared by the views `via` makes: one browser, one cookie, whichever instance it reaches. */
  private jar: { cookie: string | undefined; signup: string | undefined; browser: string | undefined; remember: string | undefined; passkey: string | undefined } = { cookie: undefined, signup: undefined, browser: undefined, remember: undefined, passkey: undefined };
  /** What the browser sends as Origin: the site's public address (a load balancer's, say). */
  origin: string;
  constructor(
    readonly base: string,
    readonly userAgent = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36',
  ) {
    this.origin = base;
  }

  get cookie(): string | undefined {
    return this.jar.cookie;
  }
  set cookie(v: string | undefined) {
    this.jar.cookie = v;
  }
  /** The pending signup's cookie (`twofold-signup`), until the phone code is entered. */
  get signupCookie(): string | undefined {
    return this.jar.signup;
  }
  set signupCookie(v: string | undefined) {
    this.jar.signup = v;
  }

  /** The known-browser cookie (`twofold-browser`), set when a login completes in this browser. */
  get browserCookie(): string | undefined {
    return this.jar.browser;
  }
  set browserCookie(v: string | undefined) {
    this.jar.browser = v;
  }

  /** The remembered-browser cookie (`twofold-remember`): "Don't ask again on this browser". */
  get rememberCookie(): string | undefined {
    return this.jar.remember;
  }
  set rememberCookie(v: string | undefined) {
    this.jar.remember = v;
  }

  /** The passkey sign-in cookie (`twofold-passkey`), which binds a sign-in challenge to this browser. */
  get passkeyCookie(): string | undefined {
    return this.jar.passkey;
  }

  /** The same browser (cookie, Origin) sending its requests to another instance at `base`. */
  via(base: string): Browser {
    const b = new Browser(base, this.userAgent);
    b.jar = this.jar;
    b.origin = this.origin;
    return b;
  }

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
    const res = await fetch(this.base + path, {
      method,
      headers: {
        'user-agent': this.userAgent,
        ...(method === 'GET' ? {} : { origin: this.origin, 'content-type': 'application/json' }),
        ...(this.cookie || this.signupCookie || this.browserCookie || this.rememberCookie || this.jar.passkey ? { cookie: [this.cookie, this.signupCookie, this.browserCookie, this.rememberCookie, this.jar.passkey].filter(Boolean).join('; ') } : {}),
        ...headers,
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const set = res.headers.getSetCookie();
    for (const c of set) {
      const [pair] = c.split(';');
      const [name, value] = pair!.split('=');
      if (name === 'twofold' || name === '__Host-twofold') this.cookie = value ? `${name}=${value}` : undefined;
      if (name === 'twofold-signup' || name === '__Host-twofold-signup') this.signupCookie = value ? `${name}=${value}` : undefined;
      if (name === 'twofold-browser' || name === '__Host-twofold-browser') this.browserCookie = value ? `${name}=${value}` : undefined;
      if (name === 'twofold-remember' || name === '__Host-twofold-remember') this.rememberCookie = value ? `${name}=${value}` : undefined;
      if (name === 'twofold-passkey' || name === '__Host-twofold-passkey') this.jar.passkey = value ? `${name}=${value}` : undefined;
    }
    const text = await res.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      parsed = { raw: text };
    }
    return { status: res.status, body: parsed, headers: res.headers };
  }
  get(path: string, headers?: Record<string, string>) {
    return this.request('GET', path, undefined, headers);
  }
  post(path: string, body: unknown = {}, headers?: Record<string, string>) {
    return this.request('POST', path, body, headers);
  }
  del(path: string, body: unknown = {}) {
    return this.request('DELETE', path, body);
  }
}

let counter = 0;
/** Where this process's phone numbers start: within one process no two `newUser()` share one. */
const phoneBase = randomBytes(2).readUInt16BE(0) % 9000;
/** A fresh, valid signup (US numbers 201-555-1000 to 201-555-9999, distinct within a process). */
export function newUser(over: Partial<Record<string, string>> = {}) {
  counter++;
  const tag = randomBytes(4).toString('hex');
  return {
    fullName: 'Ada Lovelace',
    email: `ada.${tag}@example.com`,
    password: `correct horse ${tag}`,
    countryCode: 'US',
    phone: `201555${String(1000 + ((phoneBase + counter * 37) % 9000)).padStart(4, '0')}`,
    ...over,
  };
}

/**
 * Set up a third-party authenticator app from the logged-in user page, as a person does: create
 * the secret, then confirm it with a code. The code confirming it is the previous 30 s step's
 * (the ±1 window takes it), so the current step stays free for the test's own next code. Returns
 * the secret (base32). `clock` is the server's, when the test drives one.
 */
export async function addTotpApp(b: Browser, clock?: { now(): number }): Promise<string> {
  const app = await b.post('/user/totp-app', {});
  if (app.status !== 201) throw new Error(`totp-app answered ${app.status} ${JSON.stringify(app.body)}`);
  const secret = new URL(String(app.body.uri)).searchParams.get('secret')!;
  if (!clock) {
    // Not within a second of a step's end: the server must see the same step as this code's.
    const into = Date.now() % 30_000;
    if (into > 29_000) await new Promise((ok) => setTimeout(ok, 30_050 - into));
  }
  const at = (clock?.now() ?? Date.now()) - 30_000;
  const code = new TOTP({ secret, digits: 6, period: 30, algorithm: 'SHA1' }).generate({ timestamp: at });
  const r = await b.post('/user/totp-app/confirm', { code });
  if (r.status !== 200) throw new Error(`totp-app/confirm answered ${r.status} ${JSON.stringify(r.body)}`);
  return secret;
}

/** E.164 of a `newUser()`-style signup (US numbers). */
export function e164Of(u: { phone: string; countryCode?: string }): string {
  return `+1${u.phone.replace(/\D/g, '')}`;
}

/**
 * Sign up as a person would: the form (202, a code goes to the phone), then the code from the
 * SMS outbox (201, logged in; `smsOutbox` is the service's address when it runs apart, `code`
 * reads it some other way). Returns the last answer.
 */
export async function signUp(
  b: Browser,
  u: Record<string, unknown>,
  o: {
    expectStatus?: number;
    headers?: Record<string, string>;
    smsOutbox?: string;
    code?: (to: string | undefined) => Promise<string>;
    /** The token of the signup's email link (default: from the dev mail outbox of `b.base`). */
    emailToken?: (email: string) => Promise<string>;
  } = {},
) {
  const form = await b.post('/user', u, o.headers);
  if (form.status !== 202) {
    if (o.expectStatus === undefined) throw new Error(`signup form answered ${form.status} ${JSON.stringify(form.body)}`);
    return form;
  }
  const to = typeof u.phone === 'string' && (u.countryCode === undefined || u.countryCode === 'US' || u.countryCode === '1') ? e164Of({ phone: u.phone }) : undefined;
  const code = o.code ? await o.code(to) : (await latestSmsCode(o.smsOutbox ?? b.base, to)).code;
  const phone = await b.post('/user/verify-phone', { code }, o.headers);
  if (phone.status !== 202) {
    // With `expectStatus` the caller judges the answer (whichever step gave it).
    if (o.expectStatus === undefined) throw new Error(`verify-phone answered ${phone.status} ${JSON.stringify(phone.body)}`);
    return phone;
  }
  const email = String(u.email).trim().toLowerCase();
  const token = o.emailToken ? await o.emailToken(email) : signupTokenIn(await awaitMail(b.base, email, 'Confirm your email address'));
  const done = await b.post('/user/verify-email', { token }, o.headers);
  if (o.expectStatus === undefined && done.status !== 201) throw new Error(`verify-email answered ${done.status} ${JSON.stringify(done.body)}`);
  return done;
}

/** The token of a signup's email link in a mail's text. */
export function signupTokenIn(m: { text: string; subject: string }): string {
  const token = /\/signup\/verify-email#token=([A-Za-z0-9_-]{43})/.exec(m.text)?.[1];
  if (!token) throw new Error(`no signup link in "${m.subject}"`);
  return token;
}

/**
 * The entries of an outbox file (JSON lines). A server may be appending a line as the file is
 * read: what follows the last newline is not a whole line yet and is left for the next read.
 */
function completeJsonLines<T>(file: string): T[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}

/**
 * The newest signup link mailed to `email`, read from the mail outbox files in `dataDir` (for a
 * production-mode server, which does not serve /dev/mail, or several instances).
 */
export async function outboxFileSignupToken(dataDir: string | string[], email: string, timeoutMs?: number): Promise<string> {
  return eventually(async () => {
    const mine = (Array.isArray(dataDir) ? dataDir : [dataDir])
      .flatMap((dir) => completeJsonLines<{ to: string; subject: string; text: string; created_at: string }>(join(dir, 'mail-outbox.jsonl')))
      .filter((m) => m.to === email && m.subject.includes('Confirm your email address'))
      .sort((a, b) => a.created_at.localeCompare(b.created_at));
    const last = mine.at(-1);
    return last ? signupTokenIn(last) : undefined;
  }, timeoutMs);
}

/**
 * The newest code texted to `to`, read from the outbox file in `dataDir` (for a production-mode
 * server, which does not serve /dev/sms).
 */
export function outboxFileCode(dataDir: string | string[], to: string): string {
  const mine = (Array.isArray(dataDir) ? dataDir : [dataDir])
    .flatMap((dir) => completeJsonLines<{ to: string; body: string; created_at: string }>(join(dir, 'sms-outbox.jsonl')))
    .filter((m) => m.to === to)
    .sort((a, b) => a.created_at.localeCompare(b.created_at));
  const code = mine.at(-1)?.body.match(/\b(\d{6,10})\b/)?.[1];
  if (!code) throw new Error(`no SMS code to ${to} in the outbox file`);
  return code;
}

/** The newest SMS code sent to anyone (or to `to`) in the dev outbox. */
export async function latestSmsCode(base: string, to?: string): Promise<{ code: string; count: number }> {
  const res = await fetch(`${base}/dev/sms.json${to ? `?to=${encodeURIComponent(to)}` : ''}`);
  const { messages } = (await res.json()) as { messages: { body: string; to: string }[] };
  const m = messages[0];
  const code = m?.body.match(/\b(\d{6,10})\b/)?.[1];
  if (!code) throw new Error('no SMS code in the outbox');
  return { code, count: messages.length };
}


export interface PendingApproval {
  uuid: string;
  message: string;
  details: Record<string, string>;
  number_matching: boolean;
}

/** An authenticator speaking docs/device-api.md with node:crypto (P-256, P1363 signatures). */
export class TestDevice {
  private constructor(
    readonly base: string,
    readonly id: string,
    private readonly key: KeyObject,
    readonly totpSecret: string,
  ) {}

  /** The same device (id, key) talking to another service instance at `base`. */
  via(base: string): TestDevice {
    return new TestDevice(base, this.id, this.key, this.totpSecret);
  }

  /** Signed headers for `method path` with an empty body (for a streaming GET the caller makes). */
  signedHeaders(method: string, path: string): Record<string, string> {
    const ts = String(Math.floor(Date.now() / 1000));
    const nonce = randomBytes(16).toString('base64url');
    const data = `twofold-device-v1\n${method}\n${path}\n\n${ts}\n${nonce}`;
    const sig = sign('sha256', Buffer.from(data), { key: this.key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    return { 'X-Twofold-Device': this.id, 'X-Twofold-Timestamp': ts, 'X-Twofold-Nonce': nonce, 'X-Twofold-Signature': sig };
  }

  static async activate(base: string, link: string): Promise<TestDevice> {
    const token = decodeURIComponent(link.split('#activate=')[1] ?? '');
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const res = await fetch(`${base}/v1/devices/activate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, name: 'Test phone', public_key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } }),
    });
    const body = (await res.json()) as { device: { id: string }; totp: { secret: string } };
    if (res.status !== 201) throw new Error(`activation failed: ${res.status} ${JSON.stringify(body)}`);
    return new TestDevice(base, body.device.id, privateKey, body.totp.secret);
  }

  private async signed(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const raw = body === undefined ? '' : JSON.stringify(body);
    const ts = String(Math.floor(Date.now() / 1000));
    const nonce = randomBytes(16).toString('base64url');
    const hash = raw ? createHash('sha256').update(raw).digest('hex') : '';
    const data = `twofold-device-v1\n${method}\n${path}\n${hash}\n${ts}\n${nonce}`;
    const sig = sign('sha256', Buffer.from(data), { key: this.key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    const res = await fetch(this.base + path, {
      method,
      headers: {
        'X-Twofold-Device': this.id,
        'X-Twofold-Timestamp': ts,
        'X-Twofold-Nonce': nonce,
        'X-Twofold-Signature': sig,
        ...(raw ? { 'content-type': 'application/json' } : {}),
      },
      ...(raw ? { body: raw } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async pending(): Promise<PendingApproval[]> {
    const r = await this.signed('GET', `/v1/devices/${this.id}/approval_requests`);
    if (r.status !== 200) throw new Error(`pending failed: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.approval_requests as PendingApproval[];
  }

  async answer(req: PendingApproval, decision: 'approve' | 'deny', number: string | null) {
    const detailsHash = createHash('sha256').update(canonicalJson({ message: req.message, details: req.details })).digest('hex');
    const data = `twofold-approval-v1\n${req.uuid}\n${decision}\n${number ?? ''}\n${detailsHash}`;
    const signature = sign('sha256', Buffer.from(data), { key: this.key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    return this.signed('POST', `/v1/devices/${this.id}/approval_requests/${req.uuid}/response`, { decision, number, details_hash: detailsHash, signature });
  }
}

/** Wait until `fn` returns a truthy value (polling, for test set-up only). */
export async function eventually<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface SentMail {
  to: string;
  subject: string;
  text: string;
  html: string;
  created_at: string;
}

/** Mail sent so far to `to` (newest first), from the dev mail outbox. */
export async function mailTo(base: string, to: string): Promise<SentMail[]> {
  const res = await fetch(`${base}/dev/mail.json?to=${encodeURIComponent(to)}`);
  return ((await res.json()) as { messages: SentMail[] }).messages;
}

/** Wait for the `n`th mail to `to` whose subject contains `subject`; the newest such mail. */
export async function awaitMail(base: string, to: string, subject: string, n = 1): Promise<SentMail> {
  return eventually(async () => {
    const mine = (await mailTo(base, to)).filter((m) => m.subject.includes(subject));
    return mine.length >= n ? mine[0] : undefined;
  });
}

/** The token of a reset link in a mail's text. */
export function resetTokenIn(m: SentMail): string {
  const token = /\/password\/reset#token=([A-Za-z0-9_-]{43})/.exec(m.text)?.[1];
  if (!token) throw new Error(`no reset link in "${m.subject}"`);
  return token;
}

/** A notice (src/app/account-mail.ts) says when, from which browser and address, what to do if it was not you, and carries no link or code. */
export function expectNotice(m: SentMail, browser: string) {
  expect(m.text).toContain(`Browser: ${browser}`);
  expect(m.text).toContain('IP address: 127.0.0.1');
  expect(m.text).toMatch(/When: \w{3}, \d{2} \w{3} \d{4}/);
  expect(m.text).toContain('If this was not you:');
  // Nothing in a notice logs anyone in: no link, no code.
  expect(m.text).not.toMatch(/https?:\/\//);
  expect(m.html).not.toMatch(/href=/);
  expect(m.text).not.toMatch(/\b\d{6,10}\b/);
}
