/**
 * The device protocol's byte-exact strings (docs/device-api.md): one module for the service that
 * verifies them, the CLI authenticator and the PWA that sign them. Plain TypeScript with no
 * platform import, so Node and Vite build the same code; hashing is each side's own (Node's
 * crypto, WebCrypto), over the strings made here.
 */

export const DEVICE_HEADERS = {
  device: 'x-twofold-device',
  timestamp: 'x-twofold-timestamp',
  nonce: 'x-twofold-nonce',
  signature: 'x-twofold-signature',
} as const;

export const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

/** How far a signed request's timestamp may be from the service's clock (docs/device-api.md). */
export const SIGNED_REQUEST_SKEW_MS = 60 * 1000;

/** The signing headers of a request. */
export interface SigningHeaderValues {
  device: string;
  timestamp: string;
  nonce: string;
  signature: string;
}

/** The signing headers of a request, as received (any may be missing). */
export type ReceivedSigningHeaders = { [K in keyof SigningHeaderValues]?: string | undefined };

/**
 * Why a signed request is refused before any lookup (a header missing or malformed, a timestamp
 * too far from `nowMs`), or undefined: the checks the device API and Verify push factors share.
 */
export function signingHeadersFault(h: ReceivedSigningHeaders, nowMs: number): string | undefined {
  if (!h.device || !h.timestamp || !h.nonce || !h.signature) return 'missing header';
  if (!/^\d{1,12}$/.test(h.timestamp)) return 'malformed timestamp';
  if (!NONCE_PATTERN.test(h.nonce)) return 'malformed nonce';
  if (Math.abs(Number(h.timestamp) * 1000 - nowMs) > SIGNED_REQUEST_SKEW_MS) return 'stale timestamp';
  return undefined;
}

export type Decision = 'approve' | 'deny';

/** A request as the service shows it to a device (docs/device-api.md `ApprovalForDevice`). */
export interface ApprovalForDevice {
  uuid: string;
  seq: number;
  message: string;
  details: Record<string, string>;
  logos: { res: string; url: string }[];
  created_at: number;
  expires_at: number | null;
  number_matching: boolean;
  app_name: string;
}

/** A refusal from the device API: its HTTP status and `{ code, message }`. */
export class DeviceApiError extends Error {
  override name = 'DeviceApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The string a device signs for every request it makes (`bodyDigest`: hex SHA-256 of the raw body, or ""). */
export function requestSigningString(o: { method: string; path: string; bodyDigest: string; timestamp: string; nonce: string }): string {
  return ['twofold-device-v1', o.method.toUpperCase(), o.path, o.bodyDigest, o.timestamp, o.nonce].join('\n');
}

/** The string a device signs when answering an approval request. */
export function approvalSigningString(o: { uuid: string; decision: Decision; number: string | null; detailsHash: string }): string {
  return ['twofold-approval-v1', o.uuid, o.decision, o.number ?? '', o.detailsHash].join('\n');
}

/**
 * Code-point order. JavaScript's `<` compares UTF-16 units, which puts a key beyond U+FFFF (an
 * emoji, a surrogate pair) before U+E000–U+FFFF: the two sides would then hash other bytes.
 */
function compareCodePoints(a: string, b: string): number {
  const x = Array.from(a);
  const y = Array.from(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** JSON with object keys sorted by code point at every level and no spaces; undefined members are left out. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  entries.sort(([a], [b]) => compareCodePoints(a, b));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** What the details hash is taken over: the canonical JSON of `{ message, details }` as the device displayed them. */
export function detailsPayload(message: string, details: Record<string, string>): string {
  return canonicalJson({ message, details });
}
