/** Authy's error codes, numeric strings on the wire (docs/authy-compat.md). */
export const AuthyCode = {
  INVALID_API_KEY: '60001',
  INVALID_REQUEST: '60002',
  INVALID_PARAMETER: '60004',
  TOKEN_REUSED: '60019',
  TOKEN_INVALID: '60020',
  WRONG_VERIFICATION_CODE: '60022',
  NO_PENDING_VERIFICATION: '60023',
  USER_NOT_FOUND: '60026',
  USER_NOT_VALID: '60027',
  COULD_NOT_DELETE: '60028',
  INVALID_PHONE: '60033',
  INVALID_EMAIL: '60038',
  APPROVAL_REQUEST_NOT_FOUND: '60049',
  ONETOUCH_USER_UNREGISTERED: '60050',
  ONETOUCH_DEVICE_NOT_FOUND: '60051',
  APPROVAL_REQUEST_NOT_PENDING: '60079',
  TOO_MANY_REQUESTS: '60003',
  SERVICE_UNAVAILABLE: '60096',
} as const;

export type AuthyCodeValue = (typeof AuthyCode)[keyof typeof AuthyCode];

/**
 * A refusal in the Authy wire format:
 * `{"message":M,"success":false,"errors":{"message":M,...extra},"error_code":"NNNNN",...body}`.
 * `reason` goes to the log only.
 */
export class AuthyError extends Error {
  override name = 'AuthyError';
  constructor(
    readonly status: number,
    readonly errorCode: AuthyCodeValue,
    message: string,
    readonly extra: { errors?: Record<string, unknown>; body?: Record<string, unknown>; reason?: string; headers?: Record<string, string> } = {},
  ) {
    super(message);
  }
}
