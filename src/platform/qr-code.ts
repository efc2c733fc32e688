import type { QRCodeToDataURLOptions } from 'qrcode';

let qrcode: Promise<typeof import('qrcode')> | undefined;

/**
 * A QR code as a PNG data URL (`qrcode`'s toDataURL). The package is loaded with the first code
 * (an activation link or a TOTP secret being shown), not at start: most requests never draw one.
 */
export async function qrCodeDataUrl(text: string, options: QRCodeToDataURLOptions): Promise<string> {
  qrcode ??= import('qrcode').then((m) => m.default);
  return (await qrcode).toDataURL(text, options);
}
