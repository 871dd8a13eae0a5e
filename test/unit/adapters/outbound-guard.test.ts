import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import {
  GuardedOutboundHttp,
  isLoopbackHost,
  outboundUrlProblem,
  refusedAddressReason,
} from '../../../lib/adapters/guarded-outbound-http.ts';

describe('the outbound address policy: global unicast only (hardening rule 3)', () => {
  it.each([
    // IPv4 special-purpose registry
    '127.0.0.1',
    '127.1.2.3',
    '10.0.0.1',
    '172.16.5.4',
    '192.168.1.1',
    '100.64.0.1',
    '169.254.169.254',
    '0.0.0.0',
    '0.1.2.3',
    '192.0.0.170',
    '192.0.2.1',
    '192.31.196.1',
    '192.52.193.1',
    '192.88.99.1',
    '192.175.48.1',
    '198.18.0.1',
    '198.51.100.1',
    '203.0.113.1',
    '224.0.0.1',
    '239.255.255.250',
    '240.0.0.1',
    '255.255.255.255',
    // IPv6: unspecified, loopback, unique-local (EC2 metadata), link-local, site-local, multicast, discard-only
    '::',
    '::1',
    'fd00:ec2::254',
    'fc00::1',
    'fe80::1',
    'fe80::1%eth0',
    'fec0::1',
    'ff02::1',
    '100::1',
    // IPv4-mapped, -compatible and -translated forms, public addresses inside them too
    '::ffff:127.0.0.1',
    '::ffff:10.0.0.1',
    '::ffff:a9fe:a9fe',
    '0:0:0:0:0:ffff:7f00:1',
    '::ffff:8.8.8.8',
    '::127.0.0.1',
    '::7f00:1',
    '::ffff:0:127.0.0.1',
    '::ffff:0:7f00:1',
    // NAT64 (well-known and local-use prefixes)
    '64:ff9b::a9fe:a9fe',
    '64:ff9b::127.0.0.1',
    '64:ff9b::8.8.8.8',
    '64:ff9b:1::7f00:1',
    '64:ff9b:1:ffff::1',
    // 6to4, Teredo and the rest of 2001::/23, documentation, AS112, SRv6
    '2002:a00:1::1',
    '2002:808:808::1',
    '2001::1',
    '2001:0:4136:e378:8000:63bf:3fff:fdd2',
    '2001:2::1',
    '2001:20::1',
    '2001:db8::1',
    '3fff::1',
    '2620:4f:8000::1',
    '5f00::1',
    '[::1]',
    '[::127.0.0.1]',
  ])('refuses %s', (address) => {
    expect(refusedAddressReason(address)).toMatch(/is not a global unicast address/);
  });

  it.each(['93.184.216.34', '8.8.8.8', '1.1.1.1', '223.255.255.254', '2606:4700:4700::1111', '2a00:1450:4001::200e'])(
    'allows the global unicast address %s',
    (address) => {
      expect(refusedAddressReason(address)).toBeUndefined();
    },
  );

  it('refuses what is not an IP address', () => {
    expect(refusedAddressReason('example.com')).toMatch(/not an IP address/);
  });

  it('knows loopback hosts', () => {
    expect(['localhost', 'rp.localhost', '127.0.0.1', '127.9.9.9', '[::1]', '::1'].map(isLoopbackHost)).toEqual([
      true,
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(['example.com', '10.0.0.1', '::2', 'localhost.example.com'].map(isLoopbackHost)).toEqual([
      false,
      false,
      false,
      false,
    ]);
  });
});

describe('the outbound URL policy (CIBA §4, hardening rule 3)', () => {
  it.each([
    ['https://rp.example.com/cb', false],
    ['https://rp.example.com:8443/cb?x=1', false],
    ['https://[2606:4700:4700::1111]/cb', false],
    ['http://127.0.0.1:9999/cb', true],
    ['http://localhost:9999/cb', true],
    ['http://[::1]:9999/cb', true],
    ['https://10.0.0.1/cb', true],
  ])('accepts %s (development mode %s)', (url, dev) => {
    expect(outboundUrlProblem(url, dev)).toBeUndefined();
  });

  it.each([
    ['/cb', true, /absolute URL/],
    ['ftp://rp.example.com/cb', true, /https URL/],
    ['http://rp.example.com/cb', true, /https URL/],
    ['http://127.0.0.1:9999/cb', false, /https URL/],
    ['https://rp.example.com/cb#frag', false, /fragment/],
    ['https://user:pw@rp.example.com/cb', false, /user information/],
    ['https://127.0.0.1/cb', false, /loopback/],
    ['https://localhost/cb', false, /loopback/],
    ['https://[::1]/cb', false, /loopback/],
    ['https://2130706433/cb', false, /loopback/],
    ['https://0x7f.1/cb', false, /loopback/],
    ['https://10.0.0.1/cb', false, /not a global unicast/],
    ['https://169.254.169.254/latest', false, /not a global unicast/],
    ['https://[fd00:ec2::254]/', false, /not a global unicast/],
    ['https://[::ffff:10.0.0.1]/cb', false, /not a global unicast/],
    ['https://[::127.0.0.1]/cb', false, /not a global unicast/],
    ['https://[::ffff:0:127.0.0.1]/cb', false, /not a global unicast/],
    ['https://[64:ff9b:1::7f00:1]/cb', false, /not a global unicast/],
    ['https://[64:ff9b::169.254.169.254]/cb', false, /not a global unicast/],
    ['https://[2002:7f00:1::1]/cb', false, /not a global unicast/],
  ])('refuses %s (development mode %s)', (url, dev, problem) => {
    expect(outboundUrlProblem(url, dev)).toMatch(problem);
  });

  it('names the URL it refuses', () => {
    expect(outboundUrlProblem('http://rp.example.com/jwks', false, 'jwks_uri')).toMatch(
      /^jwks_uri must be an https URL/,
    );
  });
});

describe('GuardedOutboundHttp refuses private destinations without connecting', () => {
  const resolvingTo =
    (...addresses: string[]) =>
    async (): Promise<LookupAddress[]> =>
      addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  const post = (http: GuardedOutboundHttp, url: string, allowPrivateNetwork = false) =>
    http.postJson(url, { headers: {}, body: '{}', allowPrivateNetwork });

  it.each(['127.0.0.1', '10.0.0.1', '169.254.169.254', '::1', 'fd00:ec2::254', '::ffff:10.0.0.1', '64:ff9b:1::7f00:1'])(
    'refuses a name that resolves to %s',
    async (address) => {
      // Port 9 on a reserved TEST-NET name: were the guard to connect, the result would be a connection error.
      const result = await post(
        new GuardedOutboundHttp({ resolve: resolvingTo(address) }),
        'https://rp.example.com:9/cb',
      );
      expect(result).toEqual({
        error: expect.stringMatching(/^destination refused: rp.example.com resolves to/),
        permanent: true,
      });
    },
  );

  it('refuses a name when any one of its addresses is private (no picking the public one)', async () => {
    const http = new GuardedOutboundHttp({ resolve: resolvingTo('93.184.216.34', '10.0.0.1') });
    expect(await post(http, 'https://rp.example.com:9/cb')).toMatchObject({ permanent: true });
  });

  it.each([
    'https://127.0.0.1:9/cb',
    'https://10.0.0.1:9/cb',
    'https://169.254.169.254:9/',
    'https://[::1]:9/cb',
    'https://[::127.0.0.1]:9/cb',
    'https://[::ffff:0:127.0.0.1]:9/cb',
    'https://[64:ff9b:1::7f00:1]:9/cb',
  ])('refuses the IP literal %s before any lookup', async (url) => {
    let looked = false;
    const http = new GuardedOutboundHttp({
      resolve: async () => {
        looked = true;
        return [];
      },
    });
    expect(await post(http, url)).toMatchObject({
      error: expect.stringMatching(/^destination refused/),
      permanent: true,
    });
    expect(looked).toBe(false);
  });

  it('refuses plain http outside development mode', async () => {
    expect(await post(new GuardedOutboundHttp(), 'http://127.0.0.1:9/cb')).toMatchObject({ permanent: true });
  });
});
