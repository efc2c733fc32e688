import { execFileSync } from 'node:child_process';

export interface AuthyAnswer {
  status: number;
  body: Record<string, unknown>;
  text: string;
}

/** One call to the Authy-compatible API with the key in the header (unless `key` is null). */
export async function authy(
  base: string,
  key: string | null,
  method: 'GET' | 'POST',
  path: string,
  params?: Record<string, string | number> | string,
  headers: Record<string, string> = {},
): Promise<AuthyAnswer> {
  const h: Record<string, string> = { ...headers };
  if (key !== null) h['X-Authy-API-Key'] = key;
  let url = `${base}${path}`;
  let body: string | undefined;
  if (typeof params === 'string') {
    body = params;
    h['content-type'] ??= 'application/json';
  } else if (params) {
    const form = new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]));
    if (method === 'GET') url += `${url.includes('?') ? '&' : '?'}${form}`;
    else {
      body = form.toString();
      h['content-type'] = 'application/x-www-form-urlencoded';
    }
  }
  const r = await fetch(url, { method, headers: h, ...(body !== undefined ? { body } : {}) });
  const text = await r.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON; callers assert on status
  }
  return { status: r.status, body: parsed, text };
}

let phoneSeq = 2000;
/**
 * A distinct valid US number per call within a test file (201-555-2000 upwards; the fixed numbers
 * the tests name are 201-555-01xx, so they never collide).
 */
export function nextUsPhone(): string {
  phoneSeq += 1;
  return `201-555-${phoneSeq}`;
}

export async function registerUser(base: string, key: string, cellphone = nextUsPhone(), email = `u${Math.random().toString(36).slice(2)}@example.com`): Promise<number> {
  const r = await authy(base, key, 'POST', '/protected/json/users/new', {
    'user[email]': email,
    'user[cellphone]': cellphone,
    'user[country_code]': '1',
  });
  if (r.status !== 200) throw new Error(`register failed: ${r.status} ${r.text}`);
  return (r.body['user'] as { id: number }).id;
}

/** Newest outbox message to `to` (E.164), via the simulated phone. */
export async function lastSms(base: string, to: string): Promise<string | undefined> {
  const r = await fetch(`${base}/dev/sms.json?to=${encodeURIComponent(to)}`);
  const j = (await r.json()) as { messages: { body: string }[] };
  const m = j.messages[0]?.body.match(/\b(\d{4,10})\b/);
  return m?.[1];
}

/** `oathtool --totp -b SECRET [-N time]`. */
export function oathtool(base32: string, when?: Date): string {
  const args = ['--totp', '-b', base32];
  if (when) args.push('-N', when.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'));
  return execFileSync('oathtool', args, { encoding: 'utf8' }).trim();
}

export function secretFromUri(uri: string): string {
  const s = new URL(uri).searchParams.get('secret');
  if (!s) throw new Error('no secret in URI');
  return s;
}
