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

/** False for a wrong signature, and for a body whose flattened form is over MAX_FLATTENED_CHARS (never worth signing). */
export function verifyCallbackSignature(o: { apiKey: string; nonce: string; method: string; url: string; body: unknown; signature: string }): boolean {
  try {
    return constantTimeEqual(signCallback(o), o.signature);
  } catch (e) {
    if (e instanceof ParamsTooLarge) return false;
    throw e;
  }
}

/**
 * The flattened form repeats every key's path before each of its values, so a small body (one
 * long key over many values) can flatten to megabytes: at most this many characters of keys and
 * values are flattened (a genuine callback is a few KB), whatever the body's size and depth.
 */
export const MAX_FLATTENED_CHARS = 256 * 1024;

export class ParamsTooLarge extends Error {
  override name = 'ParamsTooLarge';
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

/**
 * Flatten to `a[b][c]` / `a[]` pairs; empty objects and arrays vanish, null becomes "". Throws
 * ParamsTooLarge past MAX_FLATTENED_CHARS.
 */
export function flattenParams(value: unknown): [string, string][] {
  const out: [string, string][] = [];
  let chars = 0;
  const push = (k: string, v: string) => {
    chars += k.length + v.length;
    if (chars > MAX_FLATTENED_CHARS) throw new ParamsTooLarge(`flattened body over ${MAX_FLATTENED_CHARS} characters`);
    out.push([k, v]);
  };
  const walk = (v: unknown, prefix: string) => {
    if (v === null || v === undefined) {
      if (prefix) push(prefix, '');
    } else if (Array.isArray(v)) {
      for (const x of v) walk(x, `${prefix}[]`);
    } else if (typeof v === 'object') {
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) walk(x, prefix ? `${prefix}[${k}]` : k);
    } else {
      push(prefix, String(v));
    }
  };
  walk(value, '');
  return out;
}

export function encodeParams(body: unknown): string {
  const pairs = flattenParams(body).map(([k, v]) => [encodeParam(k), encodeParam(v)] as const);
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}
