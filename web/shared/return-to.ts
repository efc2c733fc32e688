/** Same rule as the server's `safeReturnTo`: only a same-origin path (`/x`, never `//x` or `/\x`). */
export function safeReturnTo(target: unknown, fallback = '/account'): string {
  if (typeof target !== 'string' || target.length > 512) return fallback;
  if (!target.startsWith('/') || target.startsWith('//') || target.startsWith('/\\')) return fallback;
  if (/[\u0000-\u001f\u007f\\]/.test(target)) return fallback;
  return target;
}
