// Threat: blind SSRF through Web Push. A device's push subscription names any URL it likes; a
// production server that POSTs there can be pointed at its own network (loopback, private ranges,
// cloud metadata at 169.254.169.254) through a name that resolves there (`localhost.`,
// `127.0.0.1.nip.io`, an internal name) or another port. Production deliveries resolve the name
// when connecting and refuse any address that is not public; subscriptions must use port 443.
import https from 'node:https';
import { describe, expect, it } from 'vitest';
import { endpointHostAllowed, isPublicAddress, publicOnlyAgent } from '../../src/platform/egress.js';
import { parseSubscription } from '../../src/verify/onetouch/http-push-subscription.js';

describe('which addresses a push delivery may reach', () => {
  it.each([
    ['127.0.0.1', false],
    ['10.1.2.3', false],
    ['172.20.0.5', false],
    ['192.168.1.1', false],
    ['169.254.169.254', false],
    ['100.64.0.1', false],
    ['0.0.0.0', false],
    ['224.0.0.1', false],
    ['::1', false],
    ['::', false],
    ['fd00::1', false],
    ['fe80::1', false],
    ['::ffff:127.0.0.1', false],
    ['::ffff:10.0.0.1', false],
    ['not an address', false],
    ['8.8.8.8', true],
    ['142.250.74.78', true],
    ['2001:4860:4860::8888', true],
    ['::ffff:8.8.8.8', true],
  ])('when the address is %s then public is %s', (ip, ok) => {
    expect(isPublicAddress(ip)).toBe(ok);
  });
});

describe('a production delivery to a name that resolves to loopback', () => {
  it.each(['localhost', 'localhost.'])('when the endpoint host is %s then the connection is refused before it is made', async (host) => {
    const agent = publicOnlyAgent();
    try {
      const err = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
        const req = https.request({ host, port: 1, path: '/push', method: 'POST', agent }, () => reject(new Error('connected')));
        req.on('error', resolve);
        req.end();
      });
      // Refused by the address check, or (a resolver that does not know the name) not found:
      // never connected.
      expect(['EPUSHBLOCKED', 'ENOTFOUND']).toContain(err.code);
      if (host === 'localhost') expect(err.code).toBe('EPUSHBLOCKED');
    } finally {
      agent.destroy();
    }
  });
});

describe('an endpoint given as an address (never looked up)', () => {
  it.each([
    ['https://127.0.0.1/push', false],
    ['https://[::1]/push', false],
    ['https://169.254.169.254/latest', false],
    ['https://10.0.0.8/push', false],
    ['https://8.8.8.8/push', true],
    ['https://push.example.com/x', true],
    ['not a url', false],
  ])('when the endpoint is %s then a delivery may go there: %s', (endpoint, ok) => {
    expect(endpointHostAllowed(endpoint)).toBe(ok);
  });
});

describe('subscriptions in production', () => {
  const keys = {
    // An uncompressed P-256 point (the curve's generator) and 16 bytes of auth.
    p256dh: Buffer.concat([
      Buffer.from([4]),
      Buffer.from('6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296', 'hex'),
      Buffer.from('4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5', 'hex'),
    ]).toString('base64url'),
    auth: Buffer.alloc(16, 7).toString('base64url'),
  };
  it('when the endpoint names a port other than 443 then the subscription is refused', () => {
    expect(() => parseSubscription({ endpoint: 'https://push.example.com:8443/x', keys }, { production: true })).toThrow(/443/);
    expect(parseSubscription({ endpoint: 'https://push.example.com/x', keys }, { production: true }).endpoint).toBe('https://push.example.com/x');
    expect(parseSubscription({ endpoint: 'https://push.example.com:443/x', keys }, { production: true }).endpoint).toBe('https://push.example.com/x');
  });
});
