import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeParam, encodeParams, MAX_FLATTENED_CHARS, ParamsTooLarge, signCallback, verifyCallbackSignature } from './authy-signature.js';

// authy-client 1.1.4, test "should verify the signature of a POST request".
const body = {
  approval_request: {
    expiration_timestamp: 1455911778,
    logos: null,
    transaction: {
      created_at_time: 1455825378,
      customer_uuid: '2ccf0040-ed25-0132-5987-0e67b818e6fb',
      details: {},
      device_details: null,
      device_geolocation: null,
      device_signing_time: 0,
      encrypted: false,
      flagged: false,
      hidden_details: {},
      message: '.',
      reason: null,
      requester_details: null,
      status: 'approved',
      uuid: '996201c0-b7a7-0133-7c06-0e67b818e6fb',
    },
  },
  authy_id: 1234567,
  callback_action: 'approval_request_status',
  device_uuid: '4d89c320-a9bb-0133-7c02-0e67b818e6fb',
  signature:
    'BObhJgZwgU7O9r4Uo9VT6j6shAOe7y/IRGpW/N0Uq34/XHZU9E+aHOI5rcQzW1ZgNCECzVrqrsnjhYEK4Zq1naKWu0YNkuvILmMz8IxJEQH+c+6x186fjIjxvP4nu4p/pfUDomo/za24s1XOjtNlVsrDTDXClHUh5MjFQbyBjhFd8gOtmGVatN7K2Lx71I8YR2JDLbRX4DlJEMu++PLBn1nqQH9tbNYzX5jjX87CXPBtDfRwfWSs/imnfZ9zkDq4ZKuBcuwzQNsxKlby6782X0o78rYhCHrcDnHgRtyMGvX9ovK3XTt6M7p6i9SKaRgBWIOFVPygxv15iJesqt9cng==',
  status: 'approved',
  uuid: '996221c0-b7a7-0133-7c06-0e67b818e6fb',
};
const known = { apiKey: '1DS9YIwGquvvIdx8GdcdqZGLAewZZyhd', nonce: '1455825429', method: 'POST', url: 'https://foo.bar/', body };

describe('OneTouch callback signature', () => {
  it('when signing the known-answer body then it matches the published signature', () => {
    expect(signCallback(known)).toBe('hqB6las54sMBA83GKs0U1QQi9ocJ2tH20SXHZNzfqqQ=');
  });

  it('when the query string differs then the signature is the same (url without query)', () => {
    expect(signCallback({ ...known, url: 'https://foo.bar/?x=1' })).toBe('hqB6las54sMBA83GKs0U1QQi9ocJ2tH20SXHZNzfqqQ=');
  });

  it('when any field, the nonce or the key changes then verification fails', () => {
    const signature = signCallback(known);
    expect(verifyCallbackSignature({ ...known, signature })).toBe(true);
    expect(verifyCallbackSignature({ ...known, body: { ...body, status: 'denied' }, signature })).toBe(false);
    expect(verifyCallbackSignature({ ...known, nonce: '1455825430', signature })).toBe(false);
    expect(verifyCallbackSignature({ ...known, apiKey: 'x'.repeat(32), signature })).toBe(false);
    expect(verifyCallbackSignature({ ...known, url: 'https://foo.bar/other', signature })).toBe(false);
  });

  it('when encoding any text then it is its UTF-8 bytes with only A-Za-z0-9-_.~ kept, upper-case hex and + for a space', () => {
    // The definition, byte by byte (lone surrogates become U+FFFD, as TextEncoder makes them).
    const reference = (s: string) =>
      Array.from(new TextEncoder().encode(s), (b) => (/[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`))
        .join('')
        .replace(/%20/g, '+');
    for (const s of ["!'()*", 'a b+c', 'ünïcödé €', '\ud83d\ude00', '\ud800 lone', 'x\udc00', '']) expect(encodeParam(s)).toBe(reference(s));
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => encodeParam(s) === reference(s)), { numRuns: 2000 });
  });

  it('when encoding then spaces become +, brackets are escaped, empty objects vanish and keys sort', () => {
    expect(encodeParams({ b: 'x y', a: { c: [1, 2], d: {} }, e: null, f: true })).toBe(
      'a%5Bc%5D%5B%5D=1&a%5Bc%5D%5B%5D=2&b=x+y&e=&f=true',
    );
  });

  it('when a body would flatten past MAX_FLATTENED_CHARS (a long key repeated before many values) then it is never flattened, and verification says no', () => {
    const body = { ['!'.repeat(60_000)]: Array.from({ length: 990 }, () => 1) };
    expect(() => encodeParams(body)).toThrow(ParamsTooLarge);
    expect(verifyCallbackSignature({ ...known, body, signature: 'c2lnbmF0dXJl' })).toBe(false);
    // Just under the budget still signs.
    expect(encodeParams({ k: 'v'.repeat(MAX_FLATTENED_CHARS - 1) })).toHaveLength(MAX_FLATTENED_CHARS + 1);
  });
});
