import { BlockList, isIP } from 'node:net';

/**
 * Addresses a callback must never reach outside development mode: "this" network, private, carrier-grade NAT,
 * loopback, link-local (and with it the cloud metadata service 169.254.169.254), documentation and benchmark
 * ranges, multicast, reserved and broadcast; for IPv6 the unspecified and loopback addresses, unique-local
 * (fc00::/7, with the EC2 metadata address fd00:ec2::254), link-local, multicast and documentation.
 * IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses are judged by the IPv4
 * address they carry.
 */
const BLOCKED = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  BLOCKED.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  BLOCKED.addSubnet(net, prefix, 'ipv6');
}

/** The IPv4 address an IPv6 address carries (mapped, NAT64 or 6to4), if any. */
const embeddedIpv4 = (address: string): string | undefined => {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1];
  const groups = expandIpv6(lower);
  if (!groups) return undefined;
  const toV4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  // ::ffff:0:0/96
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return toV4(groups[6]!, groups[7]!);
  // 64:ff9b::/96
  if (groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0)) {
    return toV4(groups[6]!, groups[7]!);
  }
  // 2002::/16 (6to4): the IPv4 address is in groups 1-2
  if (groups[0] === 0x2002) return toV4(groups[1]!, groups[2]!);
  return undefined;
};

const expandIpv6 = (address: string): number[] | undefined => {
  let text = address;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, -v4[1]!.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string) => (part ? part.split(':').map((g) => Number.parseInt(g, 16)) : []);
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const fill = tail === undefined ? 0 : 8 - left.length - right.length;
  const groups = [...left, ...new Array(Math.max(fill, 0)).fill(0), ...right];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
};

/** Why `address` (an IP literal) must not be called outside development mode, or undefined when it may. */
export const forbiddenAddressReason = (address: string): string | undefined => {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 0) return `${address} is not an IP address`;
  if (family === 4) return BLOCKED.check(bare, 'ipv4') ? `${bare} is a private or reserved address` : undefined;
  const v4 = embeddedIpv4(bare);
  if (v4 !== undefined && BLOCKED.check(v4, 'ipv4')) return `${bare} carries the private or reserved address ${v4}`;
  return BLOCKED.check(bare, 'ipv6') ? `${bare} is a private or reserved address` : undefined;
};

/** `localhost`, `*.localhost` (RFC 6761 §6.3), 127.0.0.0/8 and ::1. */
export const isLoopbackHost = (hostname: string): boolean => {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return expandIpv6(host)?.every((g, i) => g === (i === 7 ? 1 : 0)) ?? false;
  return false;
};

/**
 * CIBA Core §4: the notification endpoint is an absolute https URL. Plain http is allowed to a loopback host
 * only, and only in development mode (docs/delivery-modes.md, "Outbound protections"). No fragment (RFC 7591 §2 for URIs the client registers) and
 * no userinfo (credentials do not belong in a URL the service stores and logs). Outside development mode an IP
 * literal in a private, loopback, link-local or metadata range is refused; names are resolved and checked at
 * every delivery (lib/http/outbound.ts), which also defeats DNS rebinding. Returns the problem, or undefined.
 */
export const notificationEndpointProblem = (raw: string, developmentMode: boolean): string | undefined => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'backchannel_client_notification_endpoint must be an absolute URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return 'backchannel_client_notification_endpoint must be an https URL';
  }
  if (url.protocol === 'http:' && !(developmentMode && isLoopbackHost(url.hostname))) {
    return 'backchannel_client_notification_endpoint must be an https URL (plain http only to loopback in development mode)';
  }
  if (raw.includes('#')) return 'backchannel_client_notification_endpoint must not contain a fragment';
  if (url.username !== '' || url.password !== '') {
    return 'backchannel_client_notification_endpoint must not contain user information';
  }
  if (!developmentMode) {
    if (isLoopbackHost(url.hostname)) return 'backchannel_client_notification_endpoint must not be a loopback address';
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) !== 0) {
      const reason = forbiddenAddressReason(host);
      if (reason) return `backchannel_client_notification_endpoint is refused: ${reason}`;
    }
  }
  return undefined;
};
