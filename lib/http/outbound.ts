import { promises as dns, type LookupAddress } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { OutboundHttp, OutboundResult } from '../ports.ts';
import { forbiddenAddressReason, notificationEndpointProblem } from './notification-endpoint.ts';

export interface GuardedOutboundHttpOptions {
  /** TCP (and TLS) connection establishment, default 3 s. */
  connectTimeoutMs?: number;
  /** From connected to the response's status line, default 5 s. */
  responseTimeoutMs?: number;
  /** Response bytes read (and discarded) before the connection is dropped, default 4 KB. */
  maxResponseBytes?: number;
  /** Name resolution, replaceable in tests; default `dns.lookup` with every address. */
  resolve?: (hostname: string) => Promise<LookupAddress[]>;
}

const REFUSED = 'ERR_CIBA_DESTINATION_REFUSED';

class DestinationRefused extends Error {
  readonly code = REFUSED;
}

/**
 * A `lookup` for http.request that resolves every address of the name and refuses the connection when any of
 * them is private, loopback, link-local, multicast or a metadata address. The socket connects to the address
 * checked here (not to a second resolution), which also defeats DNS rebinding.
 */
export const guardedLookup =
  (allowPrivateNetwork: boolean, resolve: (hostname: string) => Promise<LookupAddress[]>): LookupFunction =>
  (hostname, options, callback) => {
    resolve(hostname).then(
      (all) => {
        if (!allowPrivateNetwork) {
          for (const { address } of all) {
            const reason = forbiddenAddressReason(address);
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
 * POSTs JSON to a client's endpoint with the protections every outbound call gets (docs/delivery-modes.md, "Outbound protections"): https (http only
 * to loopback in development mode), the destination's addresses checked (private ranges refused outside
 * development mode), short connect and response timeouts, redirects never followed (a 3xx is just a status),
 * at most a few KB of the answer read and thrown away. Never throws: the result says what happened.
 */
export class GuardedOutboundHttp implements OutboundHttp {
  readonly #connectTimeoutMs: number;
  readonly #responseTimeoutMs: number;
  readonly #maxResponseBytes: number;
  readonly #resolve: (hostname: string) => Promise<LookupAddress[]>;

  constructor(options: GuardedOutboundHttpOptions = {}) {
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 3_000;
    this.#responseTimeoutMs = options.responseTimeoutMs ?? 5_000;
    this.#maxResponseBytes = options.maxResponseBytes ?? 4_096;
    this.#resolve = options.resolve ?? defaultResolve;
  }

  async postJson(
    url: string,
    input: { headers: Record<string, string>; body: string; allowPrivateNetwork: boolean },
  ): Promise<OutboundResult> {
    const problem = notificationEndpointProblem(url, input.allowPrivateNetwork);
    if (problem) return { error: `destination refused: ${problem}`, permanent: true };
    const target = new URL(url);
    const host = target.hostname.replace(/^\[|\]$/g, '');
    // Node connects to an IP literal without calling `lookup`: check it here.
    if (isIP(host) !== 0 && !input.allowPrivateNetwork) {
      const reason = forbiddenAddressReason(host);
      if (reason) return { error: `destination refused: ${reason}`, permanent: true };
    }
    return this.#send(target, host, input);
  }

  #send(
    target: URL,
    host: string,
    input: { headers: Record<string, string>; body: string; allowPrivateNetwork: boolean },
  ): Promise<OutboundResult> {
    const secure = target.protocol === 'https:';
    const body = Buffer.from(input.body, 'utf8');
    return new Promise<OutboundResult>((resolve) => {
      let settled = false;
      let responseTimer: NodeJS.Timeout | undefined;
      const finish = (result: OutboundResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(connectTimer);
        clearTimeout(responseTimer);
        resolve(result);
      };
      const req = (secure ? httpsRequest : httpRequest)({
        protocol: target.protocol,
        hostname: host,
        port: target.port || (secure ? 443 : 80),
        path: `${target.pathname}${target.search}`,
        method: 'POST',
        // A fresh connection each time: no pooled socket outlives the address check that opened it.
        agent: false,
        lookup: guardedLookup(input.allowPrivateNetwork, this.#resolve),
        headers: {
          ...input.headers,
          'Content-Type': 'application/json',
          'Content-Length': String(body.length),
          'User-Agent': 'ciba-service',
          Connection: 'close',
        },
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
        finish({ status: res.statusCode ?? 0 });
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
      });
      req.end(body);
    });
  }
}
