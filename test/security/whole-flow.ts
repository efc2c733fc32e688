import { TOTP } from 'otpauth';
import { expect } from 'vitest';
import { Browser, TestDevice, e164Of, eventually, latestSmsCode, newUser, signUp } from '../app/helpers.js';
import type { TestSystem } from '../helpers/system.js';

/** Every secret a whole run of the product handled, to search for in dumps and logs. */
export interface SeenSecrets {
  passwords: string[];
  /** Session tokens (cookie values), activation tokens, API keys, private key material. */
  tokens: string[];
  /** TOTP seeds as base32 and hex. */
  seeds: string[];
  /** Short codes (SMS, TOTP) — searched as whole numbers, not inside longer digit runs. */
  codes: string[];
}

function totpNow(secret: string, offsetSteps = 0): string {
  return new TOTP({ secret, digits: 6, period: 30, algorithm: 'SHA1' }).generate({ timestamp: Date.now() + offsetSteps * 30_000 });
}

function cookieValue(b: Browser): string {
  const v = b.cookie?.split('=')[1];
  if (!v) throw new Error('no session cookie');
  return v;
}

/**
 * The product as a person uses it, over HTTP: signup, SMS login, authenticator activation, push
 * approval, push denial then TOTP, third-party TOTP app. Returns every secret it saw.
 */
export async function runWholeFlow(t: TestSystem): Promise<SeenSecrets> {
  const seen: SeenSecrets = { passwords: [], tokens: [t.apiKey], seeds: [], codes: [] };
  const user = newUser();
  seen.passwords.push(user.password);
  const b = new Browser(t.url);
  await signUp(b, user);
  seen.codes.push((await latestSmsCode(t.url, e164Of(user))).code);
  seen.tokens.push(cookieValue(b));

  // SMS login (no device yet).
  expect((await b.del('/session')).status).toBe(200);
  const login1 = await b.post('/session', { email: user.email, password: user.password });
  expect(login1.body.state).toBe('code');
  seen.tokens.push(cookieValue(b));
  const sms = await latestSmsCode(t.url);
  seen.codes.push(sms.code);
  expect((await b.post('/session/verify', { code: sms.code })).status).toBe(200);
  seen.tokens.push(cookieValue(b));

  // Add the authenticator.
  const act = await b.post('/user/authenticators', { name: 'Phone' });
  expect(act.status).toBe(201);
  const link = (act.body.activation as { link: string }).link;
  seen.tokens.push(decodeURIComponent(link.split('#activate=')[1] ?? ''));
  const device = await TestDevice.activate(t.url, link);
  seen.seeds.push(device.totpSecret, Buffer.from(base32Decode(device.totpSecret)).toString('hex'));

  // Push approval with number matching.
  await b.del('/session');
  const login2 = await b.post('/session', { email: user.email, password: user.password });
  expect(login2.body.state).toBe('approve');
  seen.tokens.push(cookieValue(b));
  const [req] = await eventually(async () => {
    const p = await device.pending();
    return p.length ? p : undefined;
  });
  expect((await device.answer(req!, 'approve', String(login2.body.number))).status).toBe(200);
  await eventually(async () => (await b.get('/authy/status')).body.status === 'approved');
  expect((await b.post('/session/complete')).status).toBe(200);
  seen.tokens.push(cookieValue(b));

  // Push denied, then the authenticator's TOTP code.
  await b.del('/session');
  const login3 = await b.post('/session', { email: user.email, password: user.password });
  expect(login3.body.state).toBe('approve');
  const [req3] = await eventually(async () => {
    const p = await device.pending();
    return p.length ? p : undefined;
  });
  expect((await device.answer(req3!, 'deny', null)).status).toBe(200);
  await eventually(async () => (await b.get('/authy/status')).body.status === 'denied');
  const code = totpNow(device.totpSecret);
  seen.codes.push(code);
  expect((await b.post('/session/verify', { code })).status).toBe(200);
  seen.tokens.push(cookieValue(b));

  // A third-party TOTP app.
  const app = await b.post('/user/totp-app');
  expect(app.status).toBe(201);
  const secret = new URL(String(app.body.uri)).searchParams.get('secret')!;
  seen.seeds.push(secret);
  const next = totpNow(secret, 1);
  seen.codes.push(next);
  await b.post('/user/totp-app/confirm', { code: next });
  expect((await b.get('/user')).status).toBe(200);
  return seen;
}

function base32Decode(s: string): Uint8Array {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const c of s.replace(/=+$/, '').toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}

/** Where any seen secret occurs in `text` (codes only as whole numbers). */
export function findSecrets(text: string, seen: SeenSecrets): string[] {
  const hits: string[] = [];
  for (const p of seen.passwords) if (text.includes(p)) hits.push(`password ${p.slice(0, 3)}…`);
  for (const k of seen.tokens) if (k && text.includes(k)) hits.push(`token ${k.slice(0, 4)}…`);
  for (const s of seen.seeds) if (text.toLowerCase().includes(s.toLowerCase())) hits.push(`seed ${s.slice(0, 4)}…`);
  for (const c of seen.codes) if (new RegExp(`(?<![0-9])${c}(?![0-9])`).test(text)) hits.push(`code ${c}`);
  return hits;
}
