import { HttpError } from '../../platform/errors.js';

/** Error codes of the device API (docs/device-api.md). */
export const DeviceApiCode = {
  INVALID_API_KEY: 'INVALID_API_KEY',
  INVALID_REQUEST: 'INVALID_REQUEST',
  NOT_FOUND: 'NOT_FOUND',
  ACTIVATION_INVALID: 'ACTIVATION_INVALID',
  INVALID_PUBLIC_KEY: 'INVALID_PUBLIC_KEY',
  DEVICE_AUTH_FAILED: 'DEVICE_AUTH_FAILED',
  APPROVAL_REFUSED: 'APPROVAL_REFUSED',
  APPROVAL_NOT_PENDING: 'APPROVAL_NOT_PENDING',
  TOO_MANY_DEVICES: 'TOO_MANY_DEVICES',
} as const;

export const deviceAuthFailed = (reason: string) =>
  new HttpError(401, DeviceApiCode.DEVICE_AUTH_FAILED, 'Device authentication failed', { reason });

export const approvalRefused = (reason: string) =>
  new HttpError(403, DeviceApiCode.APPROVAL_REFUSED, 'Approval refused', { reason });

export const notPending = (status: string) =>
  new HttpError(409, DeviceApiCode.APPROVAL_NOT_PENDING, 'Approval request is not pending', { reason: `status ${status}`, details: { status } });

export const invalidDeviceApiKey = () =>
  new HttpError(401, DeviceApiCode.INVALID_API_KEY, 'Invalid API key', { reason: 'unknown or missing API key' });

export const notFound = (reason: string) => new HttpError(404, DeviceApiCode.NOT_FOUND, 'Not found', { reason });

export const invalidRequest = (message: string) => new HttpError(400, DeviceApiCode.INVALID_REQUEST, message);
