/**
 * Known answers of the device protocol (docs/device-api.md), which src/protocol/ implements once
 * for the service, the CLI and the PWA. Checked in Node by test/authenticator/protocol.test.ts and
 * in Chromium, through the PWA's bundle, by e2e/device-protocol.e2e.ts.
 *
 * Canonical JSON: object keys sorted by Unicode code point at every level, no spaces. Keys beyond
 * U+FFFF sort by code point, not by UTF-16 unit.
 */
export const CANONICAL_VECTORS: [unknown, string][] = [
  [{ b: 1, a: { d: [2, { z: null, y: 'x' }], c: 'é' }, B: true }, '{"B":true,"a":{"c":"é","d":[2,{"y":"x","z":null}]},"b":1}'],
  [{ '😀': 1, '～': 2 }, '{"～":2,"😀":1}'],
  [{ '\uFFFF': 1, '\u{10000}': 2, '\uE000': 3 }, '{"\uE000":3,"\uFFFF":1,"𐀀":2}'],
  [{ message: 'Login', details: { 'IP': '127.0.0.1', 'Émail': 'a@b', '🔑 Key': 'x' } }, '{"details":{"IP":"127.0.0.1","Émail":"a@b","🔑 Key":"x"},"message":"Login"}'],
  [[], '[]'],
  [{}, '{}'],
];

/**
 * Details hashes: hex SHA-256 of the canonical JSON of `{ message, details }` (the answers are
 * `printf '%s' '<canonical JSON>' | sha256sum`).
 */
export const DETAILS_HASH_VECTORS: [string, Record<string, string>, string][] = [
  ['Login', { b: '2', a: '1' }, '6baeee59b67ebaa156cccb66ed13f39f9c814313d526476f09f389b664e5d3fb'],
  ['Request to log in to Twofold', { '😀': 'x', '～': 'y', IP: '127.0.0.1' }, 'a99aefe80a4bf48280269d8e43f476ea37d49168f928202510d48e8732e3d33d'],
];

/** Signing strings, byte for byte. */
export const REQUEST_SIGNING_VECTORS: [{ method: string; path: string; bodyDigest: string; timestamp: string; nonce: string }, string][] = [
  [{ method: 'get', path: '/v1/devices/x?a=1', bodyDigest: '', timestamp: '1700000000', nonce: 'n'.repeat(16) }, `twofold-device-v1\nGET\n/v1/devices/x?a=1\n\n1700000000\n${'n'.repeat(16)}`],
];
export const APPROVAL_SIGNING_VECTORS: [{ uuid: string; decision: 'approve' | 'deny'; number: string | null; detailsHash: string }, string][] = [
  [{ uuid: 'u', decision: 'approve', number: null, detailsHash: 'h' }, 'twofold-approval-v1\nu\napprove\n\nh'],
  [{ uuid: 'u', decision: 'deny', number: '42', detailsHash: 'h' }, 'twofold-approval-v1\nu\ndeny\n42\nh'],
];

/**
 * Event streams: the chunks as they arrive (split anywhere, CRLF across a boundary included) and
 * the events and last event id a parser must give.
 */
export const SSE_VECTORS: { chunks: string[]; events: { event: string; data: string; id: string | undefined }[]; lastEventId: string | undefined }[] = [
  { chunks: ['retry: 2000\n\n: ping\n\n'], events: [], lastEventId: undefined },
  {
    chunks: ['id: 7\nevent: approval_request\ndata: {"uuid":"a"', '}\n\nevent: approval_request_closed\n', 'data: {"uuid":"a","status":"approved"}\n\n'],
    events: [
      { event: 'approval_request', data: '{"uuid":"a"}', id: '7' },
      { event: 'approval_request_closed', data: '{"uuid":"a","status":"approved"}', id: undefined },
    ],
    lastEventId: '7',
  },
  { chunks: ['data: one\r', '\ndata: two\r\n\r', '\n'], events: [{ event: 'message', data: 'one\ntwo', id: undefined }], lastEventId: undefined },
  { chunks: ['id: 9\n\ndata:x\n\n'], events: [{ event: 'message', data: 'x', id: undefined }], lastEventId: '9' },
  { chunks: ['event: status\ndata: {"status":"pending"}\n\nevent: status\ndata: {"sta'], events: [{ event: 'status', data: '{"status":"pending"}', id: undefined }], lastEventId: undefined },
];
