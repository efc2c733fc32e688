import { createHmac } from 'node:crypto';
import { constantTimeEqual } from './crypto.js';

/**
 * The OneTouch callback signature (docs/authy-compat.md): base64(HMAC-SHA256(apiKey,
 * `${nonce}|${METHOD}|${url without query}|${params}`)), params being the JSON body flattened to
 * sorted, percent-encoded form pairs. Used by the service to sign and by the app to verify.
 */
export function signCallback(o: { apiKey: string; nonce: string; method: string; url: string; body: unknown }): string {
  const data = `${o.nonce}|${o.method.toUpperCase()}|${stripQuery(o.url)}|${encodeParams(o.body)}`;
  return createHmac('sha256', o.apiKey).update(data).digest('base64');
}

export function verifyCallbackSignature(o: { apiKey: string; nonce: string; method: string; url: string; body: unknown; signature: string }): boolean {
  return constantTimeEqual(signCallback(o), o.signature);
}

function stripQuery(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

const UNRESERVED = /^[A-Za-z0-9\-_.~]*$/;

/**
 * Percent-encode keeping only A-Za-z0-9-_.~, upper-case hex, then %20 as "+". Every callback is
 * signed by the service and checked by the app, so this is on the approval's path: plain keys
 * and values pass through, the rest goes through encodeURIComponent (which also keeps !'()*,
 * encoded here), and only text it refuses (a lone surrogate) takes the byte-by-byte way.
 */
export function encodeParam(s: string): string {
  if (UNRESERVED.test(s)) return s;
  let out: string;
  try {
    out = encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  } catch {
    out = Array.from(new TextEncoder().encode(s), (b) => {
      const c = String.fromCharCode(b);
      return /[A-Za-z0-9\-_.~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    }).join('');
  }
  return out.replace(/%20/g, '+');
}

/** Flatten to `a[b][c]` / `a[]` pairs; empty objects and arrays vanish, null becomes "". */
export function flattenParams(value: unknown, prefix = '', out: [string, string][] = []): [string, string][] {
  if (value === null || value === undefined) {
    if (prefix) out.push([prefix, '']);
  } else if (Array.isArray(value)) {
    for (const v of value) flattenParams(v, `${prefix}[]`, out);
  } else if (typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) flattenParams(v, prefix ? `${prefix}[${k}]` : k, out);
  } else {
    out.push([prefix, String(value)]);
  }
  return out;
}

export function encodeParams(body: unknown): string {
  const pairs = flattenParams(body).map(([k, v]) => [encodeParam(k), encodeParam(v)] as const);
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}
