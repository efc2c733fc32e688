import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import https from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/**
 * Addresses a delivery to a URL someone else chose may not reach: the server's own network. A
 * Web Push subscription names any URL its device likes, and a Verify v2 webhook any URL its app
 * likes, so without this the server would POST wherever they point it (blind SSRF): loopback,
 * private, carrier-grade NAT, link-local (cloud metadata), unique-local, multicast and reserved
 * ranges.
 */
const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv6');
}

/** True for an address on the public Internet (an IPv4-mapped IPv6 address is judged as IPv4). */
export function isPublicAddress(ip: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return isPublicAddress(mapped[1]!);
  const family = isIP(ip);
  if (family === 0) return false;
  return !blocked.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

export class BlockedAddressError extends Error {
  override name = 'BlockedAddressError';
  readonly code = 'EPUSHBLOCKED';
}

/**
 * `dns.lookup` that fails when the name resolves to any address that is not public. It runs when
 * the connection is made, so a name that changes its answer between checks (DNS rebinding) is
 * judged on the address actually connected to.
 */
export const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
    if (err) return (callback as (e: NodeJS.ErrnoException | null) => void)(err);
    if (addresses.length === 0 || addresses.some((a) => !isPublicAddress(a.address))) {
      return (callback as (e: NodeJS.ErrnoException | null) => void)(new BlockedAddressError(`${hostname} resolves to an address that is not public`));
    }
    if (options.all) return (callback as (e: null, a: LookupAddress[]) => void)(null, addresses);
    const first = addresses[0]!;
    (callback as (e: null, a: string, f: number) => void)(null, first.address, first.family);
  });
};

/**
 * An endpoint whose host is an address literal is never looked up (the connection goes straight
 * to it), so it is judged here, before any request: true when a delivery may go to `endpoint`'s
 * host as far as the URL alone tells (a name is judged when connecting).
 */
export function endpointHostAllowed(endpoint: string): boolean {
  let host: string;
  try {
    host = new URL(endpoint).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return false;
  }
  return isIP(host) === 0 || isPublicAddress(host);
}

/** The HTTPS agent production deliveries to chosen URLs (Web Push, v2 webhooks) go through: public addresses only. */
export function publicOnlyAgent(): https.Agent {
  return new https.Agent({ keepAlive: true, lookup: publicOnlyLookup });
}
