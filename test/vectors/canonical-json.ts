/**
 * Canonical JSON known answers (docs/device-api.md: object keys sorted by Unicode code point at
 * every level, no spaces). Every implementation must give them: the service's
 * (src/verify/onetouch/protocol.ts) and the PWA's (web/authenticator/protocol.ts), which signs the
 * hash the service checks. Keys beyond U+FFFF sort by code point, not by UTF-16 unit. Checked in
 * Node by test/authenticator/protocol.test.ts and in Chromium by e2e/canonical-json.e2e.ts.
 */
export const CANONICAL_VECTORS: [unknown, string][] = [
  [{ b: 1, a: { d: [2, { z: null, y: 'x' }], c: 'é' }, B: true }, '{"B":true,"a":{"c":"é","d":[2,{"y":"x","z":null}]},"b":1}'],
  [{ '😀': 1, '～': 2 }, '{"～":2,"😀":1}'],
  [{ '\uFFFF': 1, '\u{10000}': 2, '\uE000': 3 }, '{"\uE000":3,"\uFFFF":1,"𐀀":2}'],
  [{ message: 'Login', details: { 'IP': '127.0.0.1', 'Émail': 'a@b', '🔑 Key': 'x' } }, '{"details":{"IP":"127.0.0.1","Émail":"a@b","🔑 Key":"x"},"message":"Login"}'],
  [[], '[]'],
  [{}, '{}'],
];
