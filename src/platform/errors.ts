/**
 * One error class for client mistakes and refusals. Handlers throw it; one middleware per API
 * maps it to the wire format of that API (`{ code, message }` for the app and device API, the
 * Authy error shape for the Authy-compatible API). `reason` is for the log only.
 */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly options: { reason?: string; details?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ) {
    super(message);
  }
}

export const isHttpError = (e: unknown): e is HttpError => e instanceof HttpError;
