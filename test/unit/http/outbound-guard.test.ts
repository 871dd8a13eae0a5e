import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import {
  forbiddenAddressReason,
  isLoopbackHost,
  notificationEndpointProblem,
} from '../../../lib/http/notification-endpoint.ts';
import { GuardedOutboundHttp } from '../../../lib/http/outbound.ts';

describe('the outbound address guard', () => {
  it.each([
    '127.0.0.1',
    '127.1.2.3',
    '10.0.0.1',
    '172.16.5.4',
    '192.168.1.1',
    '100.64.0.1',
    '169.254.169.254',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    'fd00:ec2::254',
    'fc00::1',
    'fe80::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:10.0.0.1',
    '::ffff:a9fe:a9fe',
    '0:0:0:0:0:ffff:7f00:1',
    '64:ff9b::a9fe:a9fe',
    '2002:a00:1::1',
    '[::1]',
  ])('refuses %s', (address) => {
    expect(forbiddenAddressReason(address)).toMatch(/private or reserved/);
  });

  it.each(['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8', '2002:808:808::1'])(
    'allows the public address %s',
    (address) => {
      expect(forbiddenAddressReason(address)).toBeUndefined();
    },
  );

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

describe('the notification endpoint URL policy (CIBA §4)', () => {
  it.each([
    ['https://rp.example.com/cb', false],
    ['https://rp.example.com:8443/cb?x=1', false],
    ['http://127.0.0.1:9999/cb', true],
    ['http://localhost:9999/cb', true],
    ['http://[::1]:9999/cb', true],
    ['https://10.0.0.1/cb', true],
  ])('accepts %s (development mode %s)', (url, dev) => {
    expect(notificationEndpointProblem(url, dev)).toBeUndefined();
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
    ['https://10.0.0.1/cb', false, /private or reserved/],
    ['https://169.254.169.254/latest', false, /private or reserved/],
    ['https://[fd00:ec2::254]/', false, /private or reserved/],
    ['https://[::ffff:10.0.0.1]/cb', false, /private or reserved/],
  ])('refuses %s (development mode %s)', (url, dev, problem) => {
    expect(notificationEndpointProblem(url, dev)).toMatch(problem);
  });
});

describe('GuardedOutboundHttp refuses private destinations without connecting', () => {
  const resolvingTo =
    (...addresses: string[]) =>
    async (): Promise<LookupAddress[]> =>
      addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  const post = (http: GuardedOutboundHttp, url: string, allowPrivateNetwork = false) =>
    http.postJson(url, { headers: {}, body: '{}', allowPrivateNetwork });

  it.each(['127.0.0.1', '10.0.0.1', '169.254.169.254', '::1', 'fd00:ec2::254', '::ffff:10.0.0.1'])(
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

  it.each(['https://127.0.0.1:9/cb', 'https://10.0.0.1:9/cb', 'https://169.254.169.254:9/', 'https://[::1]:9/cb'])(
    'refuses the IP literal %s before any lookup',
    async (url) => {
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
    },
  );

  it('refuses plain http outside development mode', async () => {
    expect(await post(new GuardedOutboundHttp(), 'http://127.0.0.1:9/cb')).toMatchObject({ permanent: true });
  });
});
