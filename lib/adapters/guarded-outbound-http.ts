import { promises as dns, type LookupAddress } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import type { OutboundHttp, OutboundRequest, OutboundResponse, OutboundResult } from '../ports.ts';

/**
 * Every call the service makes to a URL someone else chose goes through this module (hardening rule 3): client
 * notification endpoints (ping/push callbacks), device webhooks, Web Push endpoints and client `jwks_uri`s. One URL
 * policy (`outboundUrlProblem`), checked when the URL is registered and again before every call, and one client
 * (`GuardedOutboundHttp`) that resolves the name, checks every address, and connects to the address it checked.
 */

// ---------------------------------------------------------------------------------------------------------------
// The address policy: global unicast only

/**
 * Where global unicast addresses are: IPv4 unicast space (below multicast), and IPv6 2000::/3 (RFC 4291 §2.4). Two
 * lists: a BlockList matches an IPv4-mapped IPv6 address against its IPv4 rules, and ::ffff:8.8.8.8 is not global.
 */
const UNICAST = { ipv4: new BlockList(), ipv6: new BlockList() };
UNICAST.ipv4.addSubnet('0.0.0.0', 1, 'ipv4');
UNICAST.ipv4.addSubnet('128.0.0.0', 2, 'ipv4');
UNICAST.ipv4.addSubnet('192.0.0.0', 3, 'ipv4');
UNICAST.ipv6.addSubnet('2000::', 3, 'ipv6');

/**
 * The IANA special-purpose address registries (iana-ipv4-special-registry, iana-ipv6-special-registry) where they
 * overlap the unicast space above. Everything IPv6 outside 2000::/3 is refused already: IPv4-mapped (::ffff:0:0/96),
 * IPv4-compatible (::/96), IPv4-translated (::ffff:0:0:0/96), NAT64 (64:ff9b::/96, 64:ff9b:1::/48), discard-only,
 * unique-local (with the EC2 metadata address fd00:ec2::254), link-local, multicast, SRv6 SIDs. Inside it: the
 * IETF protocol assignments (2001::/23, with Teredo), documentation, 6to4 and AS112.
 */
const SPECIAL_PURPOSE = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // shared address space (carrier-grade NAT)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, with the cloud metadata service 169.254.169.254
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments (DS-Lite, NAT64 discovery, ...)
  ['192.0.2.0', 24], // documentation (TEST-NET-1)
  ['192.31.196.0', 24], // AS112-v4
  ['192.52.193.0', 24], // AMT
  ['192.88.99.0', 24], // deprecated 6to4 relay anycast
  ['192.168.0.0', 16], // private
  ['192.175.48.0', 24], // direct delegation AS112
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation (TEST-NET-2)
  ['203.0.113.0', 24], // documentation (TEST-NET-3)
] as const) {
  SPECIAL_PURPOSE.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['2001::', 23], // IETF protocol assignments: Teredo, benchmarking, ORCHID, AMT, AS112-v6, ...
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4
  ['2620:4f:8000::', 48], // direct delegation AS112
  ['3fff::', 20], // documentation (RFC 9637)
] as const) {
  SPECIAL_PURPOSE.addSubnet(net, prefix, 'ipv6');
}

/**
 * Why `address` (an IP literal, brackets and zone allowed) must not be called outside development mode, or
 * undefined for a global unicast address. Allowed is what is listed as global unicast, not what is missing from a
 * list of private ranges: a form nobody thought of is refused.
 */
export const refusedAddressReason = (address: string): string | undefined => {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 0) return `${address} is not an IP address`;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (!UNICAST[type].check(bare, type) || SPECIAL_PURPOSE.check(bare, type)) {
    return `${bare} is not a global unicast address`;
  }
  return undefined;
};

/** `localhost`, `*.localhost` (RFC 6761 §6.3), 127.0.0.0/8 and ::1. */
export const isLoopbackHost = (hostname: string): boolean => {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  const family = isIP(host);
  if (family === 4) return LOOPBACK.check(host, 'ipv4');
  if (family === 6) return LOOPBACK.check(host, 'ipv6');
  return false;
};
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

// ---------------------------------------------------------------------------------------------------------------
// The URL policy

/**
 * Why a URL the service will call is refused, or undefined. `https` only; plain `http` only to a loopback host and
 * only in development mode (docs/delivery-modes.md); no fragment (RFC 7591 §2) and no user information (credentials do not
 * belong in a URL the service stores and logs). Outside development mode no loopback name and no IP literal that is
 * not global unicast; names are resolved and their addresses checked at every call (GuardedOutboundHttp), which
 * also defeats DNS rebinding. `name` says which URL in the message (`jwks_uri`, `the device webhook`, ...).
 */
export const outboundUrlProblem = (raw: string, developmentMode: boolean, name = 'the URL'): string | undefined => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return `${name} must be an absolute URL`;
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && developmentMode && isLoopbackHost(url.hostname))) {
    return `${name} must be an https URL (plain http only to loopback in development mode)`;
  }
  if (raw.includes('#')) return `${name} must not contain a fragment`;
  if (url.username !== '' || url.password !== '') return `${name} must not contain user information`;
  if (!developmentMode) {
    if (isLoopbackHost(url.hostname)) return `${name} must not be a loopback address`;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) !== 0) {
      const reason = refusedAddressReason(host);
      if (reason) return `${name} is refused: ${reason}`;
    }
  }
  return undefined;
};

// ---------------------------------------------------------------------------------------------------------------
// The client

export interface GuardedOutboundHttpOptions {
  /** TCP (and TLS) connection establishment, default 3 s. */
  connectTimeoutMs?: number;
  /** From connected to the response's status line, and then to the end of a body that is read; default 5 s. */
  responseTimeoutMs?: number;
  /** Response bytes read (and discarded) before the connection is dropped, default 4 KB. */
  maxResponseBytes?: number;
  /** Name resolution, replaceable in tests; default `dns.lookup` with every address. */
  resolve?: (hostname: string) => Promise<LookupAddress[]>;
  /** Certificate authorities to trust instead of Node's (tests with a local PKI); default Node's. */
  trustedCa?: string | string[];
}

/** The one method every caller needs (the web push sender, the local device webhook, the JWKS fetch). */
export type OutboundRequester = Pick<OutboundHttp, 'request'>;

const REFUSED = 'ERR_CIBA_DESTINATION_REFUSED';

class DestinationRefused extends Error {
  readonly code = REFUSED;
}

/**
 * A `lookup` for http.request that resolves every address of the name and refuses the connection when any of
 * them is not global unicast. The socket connects to the address checked here (not to a second resolution), which
 * also defeats DNS rebinding.
 */
const guardedLookup =
  (allowPrivateNetwork: boolean, resolve: (hostname: string) => Promise<LookupAddress[]>): LookupFunction =>
  (hostname, options, callback) => {
    resolve(hostname).then(
      (all) => {
        if (!allowPrivateNetwork) {
          for (const { address } of all) {
            const reason = refusedAddressReason(address);
            if (reason) {
              callback(new DestinationRefused(`${hostname} resolves to a refused address: ${reason}`), '', 4);
              return;
            }
          }
        }
        const family = options.family === 4 || options.family === 6 ? options.family : undefined;
        const usable = family ? all.filter((a) => a.family === family) : all;
        if (usable.length === 0) {
          const error = Object.assign(new Error(`${hostname} has no usable address`), { code: 'ENOTFOUND' });
          callback(error, '', 4);
          return;
        }
        if (options.all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, usable);
        else callback(null, usable[0]!.address, usable[0]!.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, '', 4),
    );
  };

const defaultResolve = (hostname: string) => dns.lookup(hostname, { all: true, verbatim: true });

/**
 * The service's outbound HTTP client, with the protections every outbound call gets (SECURITY.md, "Hardening rules", rule 3): the URL policy
 * above, the destination's addresses checked (only global unicast outside development mode), short connect and
 * response timeouts, redirects never followed (a 3xx is just a status), a fresh connection per call (no pooled
 * socket outlives the check that opened it), a bounded answer. Never throws: the result says what happened.
 */
export class GuardedOutboundHttp implements OutboundHttp {
  readonly #connectTimeoutMs: number;
  readonly #responseTimeoutMs: number;
  readonly #maxResponseBytes: number;
  readonly #resolve: (hostname: string) => Promise<LookupAddress[]>;
  readonly #trustedCa: string | string[] | undefined;

  constructor(options: GuardedOutboundHttpOptions = {}) {
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 3_000;
    this.#responseTimeoutMs = options.responseTimeoutMs ?? 5_000;
    this.#maxResponseBytes = options.maxResponseBytes ?? 4_096;
    this.#resolve = options.resolve ?? defaultResolve;
    this.#trustedCa = options.trustedCa;
  }

  /** A client's notification endpoint (the OutboundHttp port of the callback function). */
  async postJson(
    url: string,
    input: { headers: Record<string, string>; body: string; allowPrivateNetwork: boolean },
  ): Promise<OutboundResult> {
    const answer = await this.request(url, {
      method: 'POST',
      headers: { ...input.headers, 'Content-Type': 'application/json' },
      body: input.body,
      allowPrivateNetwork: input.allowPrivateNetwork,
      name: 'the notification endpoint',
    });
    return 'error' in answer ? answer : { status: answer.status };
  }

  refusal(url: string, options: { allowPrivateNetwork: boolean; name?: string }): string | undefined {
    return outboundUrlProblem(url, options.allowPrivateNetwork, options.name);
  }

  async request(url: string, input: OutboundRequest): Promise<OutboundResponse> {
    const problem = outboundUrlProblem(url, input.allowPrivateNetwork, input.name);
    if (problem) return { error: `destination refused: ${problem}`, permanent: true };
    return this.#send(new URL(url), input);
  }

  #send(target: URL, input: OutboundRequest): Promise<OutboundResponse> {
    const secure = target.protocol === 'https:';
    const body = input.body === undefined ? undefined : Buffer.from(input.body);
    const headers: Record<string, string> = { 'User-Agent': 'ciba-service' };
    for (const [name, value] of Object.entries(input.headers ?? {})) {
      if (!/^(content-length|connection|host)$/i.test(name)) headers[name] = value;
    }
    if (body) headers['Content-Length'] = String(body.length);
    headers.Connection = 'close';
    return new Promise<OutboundResponse>((resolve) => {
      let settled = false;
      let responseTimer: NodeJS.Timeout | undefined;
      const finish = (result: OutboundResponse) => {
        if (settled) return;
        settled = true;
        clearTimeout(connectTimer);
        clearTimeout(responseTimer);
        resolve(result);
      };
      const req = (secure ? httpsRequest : httpRequest)({
        protocol: target.protocol,
        // Node connects to an IP literal without calling `lookup`: the URL policy has checked it.
        hostname: target.hostname.replace(/^\[|\]$/g, ''),
        port: target.port || (secure ? 443 : 80),
        path: `${target.pathname}${target.search}`,
        method: input.method,
        // A fresh connection each time: no pooled socket outlives the address check that opened it.
        agent: false,
        ...(secure && this.#trustedCa ? { ca: this.#trustedCa } : {}),
        lookup: guardedLookup(input.allowPrivateNetwork, this.#resolve),
        headers,
        ...(input.signal ? { signal: input.signal } : {}),
      });
      const fail = (error: string, permanent = false) => {
        finish(permanent ? { error, permanent } : { error });
        req.destroy();
      };
      const connectTimer = setTimeout(
        () => fail(`connect timeout: no connection within ${this.#connectTimeoutMs} ms`),
        this.#connectTimeoutMs,
      );
      req.on('socket', (socket) => {
        socket.once(secure ? 'secureConnect' : 'connect', () => {
          clearTimeout(connectTimer);
          responseTimer = setTimeout(
            () => fail(`response timeout: no answer within ${this.#responseTimeoutMs} ms`),
            this.#responseTimeoutMs,
          );
        });
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code === REFUSED) fail(`destination refused: ${error.message}`, true);
        else fail(`connection failed: ${error.code ?? error.message}`);
      });
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        if (input.readBody === undefined) {
          finish({ status, headers: res.headers });
          // Read a little and throw it away (never follow a Location), then drop the connection.
          let read = 0;
          const drop = setTimeout(() => res.destroy(), this.#responseTimeoutMs);
          drop.unref();
          res.on('data', (chunk: Buffer) => {
            read += chunk.length;
            if (read >= this.#maxResponseBytes) res.destroy();
          });
          res.on('close', () => clearTimeout(drop));
          res.on('error', () => {});
          return;
        }
        const limit = input.readBody;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > limit) {
            fail(`the answer exceeds ${limit} bytes`);
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => finish({ status, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', (error: NodeJS.ErrnoException) => fail(`connection failed: ${error.code ?? error.message}`));
      });
      req.end(body);
    });
  }
}
