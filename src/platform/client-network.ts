import { isIPv4, isIPv6 } from 'node:net';

/**
 * The network a client address stands for in per-client limits: an IPv4 address itself (also
 * written IPv4-mapped, `::ffff:a.b.c.d`), an IPv6 address's /64. One subscriber holds a whole /64,
 * so counting single IPv6 addresses would hand an attacker 2^64 fresh buckets.
 */
export function clientNetwork(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (isIPv4(ip) || !isIPv6(ip)) return ip;
  const zoneless = ip.split('%')[0]!;
  const [head, tail] = zoneless.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  // An embedded IPv4 tail (…:1.2.3.4) stands for two groups; it lies past the /64 anyway.
  const groups = tail === undefined ? left : [...left, ...Array.from({ length: Math.max(0, 8 - left.length - right.length) }, () => '0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => (parseInt(g, 16) || 0).toString(16))
    .join(':')}::/64`;
}
