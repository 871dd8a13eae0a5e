import { promises as dns } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  type FetchImplementation,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import { forbiddenAddressReason, isLoopbackHost } from '../http/notification-endpoint.ts';
import { guardedLookup } from '../http/outbound.ts';
import type { Client } from '../model.ts';

/** JWS algorithms this service verifies for client-signed JWTs: asymmetric only (CIBA §7.1.1, RFC 7523 §3). */
export const ASYMMETRIC_ALGS = [
  'PS256',
  'ES256',
  'RS256',
  'PS384',
  'PS512',
  'ES384',
  'ES512',
  'RS384',
  'RS512',
  'EdDSA',
];
/** FAPI 1.0 Advanced §8.6 (FAPI-CIBA §7.6): the only algorithms a FAPI client may use. */
export const FAPI_ALGS = ['PS256', 'ES256'];
/** The algorithms signed authentication requests may use (CIBA §4: asymmetric); FAPI narrows them to FAPI_ALGS. */
export const REQUEST_SIGNING_ALGS = ['PS256', 'ES256', 'RS256'];

const MAX_JWKS_BYTES = 64 * 1024;
const FETCH_TIMEOUT_MS = 3_000;

/**
 * Why a jwks_uri is refused, or undefined: https only, plain http to a loopback host only in local development
 * mode; no fragment or credentials; outside development mode no IP literal in a private or reserved range (names
 * are resolved and checked again at every fetch).
 */
export const jwksUriProblem = (raw: string, developmentMode: boolean): string | undefined => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'jwks_uri must be an absolute URL';
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && developmentMode && isLoopbackHost(url.hostname))) {
    return 'jwks_uri must be an https URL (plain http only to loopback in development mode)';
  }
  if (raw.includes('#') || url.username !== '' || url.password !== '') {
    return 'jwks_uri must not contain a fragment or user information';
  }
  if (!developmentMode) {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isLoopbackHost(host)) return 'jwks_uri must not be a loopback address';
    if (isIP(host) !== 0 && forbiddenAddressReason(host)) return `jwks_uri is refused: ${forbiddenAddressReason(host)}`;
  }
  return undefined;
};

/**
 * A `fetch` for jose's remote JWKS: GET only, no redirects (a 3xx is a failure), addresses checked as for
 * callbacks (lib/http/outbound.ts), at most 64 KB read, a hard timeout.
 */
export const guardedJwksFetch =
  (allowPrivateNetwork: boolean): FetchImplementation =>
  (url, options) =>
    new Promise<Response>((resolve, reject) => {
      const target = new URL(url);
      const problem = jwksUriProblem(url, allowPrivateNetwork);
      if (problem) {
        reject(new Error(problem));
        return;
      }
      const secure = target.protocol === 'https:';
      const req = (secure ? httpsRequest : httpRequest)({
        protocol: target.protocol,
        hostname: target.hostname.replace(/^\[|\]$/g, ''),
        port: target.port || (secure ? 443 : 80),
        path: `${target.pathname}${target.search}`,
        method: 'GET',
        agent: false,
        lookup: guardedLookup(allowPrivateNetwork, (h) => dns.lookup(h, { all: true, verbatim: true })),
        headers: { Accept: 'application/json', 'User-Agent': 'ciba-service', Connection: 'close' },
        signal: options.signal,
        timeout: FETCH_TIMEOUT_MS,
      });
      req.on('timeout', () => req.destroy(new Error('jwks_uri timed out')));
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_JWKS_BYTES) {
            res.destroy();
            reject(new Error('jwks_uri answered more than 64 KB'));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () =>
          resolve(
            new Response(Buffer.concat(chunks), {
              status: res.statusCode ?? 500,
              headers: { 'content-type': String(res.headers['content-type'] ?? 'application/json') },
            }),
          ),
        );
        res.on('error', reject);
      });
      req.end();
    });

type RemoteSet = ReturnType<typeof createRemoteJWKSet>;

/**
 * Remote key sets per jwks_uri, for the life of the process (a warm Lambda instance): jose caches the keys for
 * 10 minutes and refetches on an unknown `kid` (at most every 30 s).
 */
const remoteSets = new Map<string, RemoteSet>();
const MAX_REMOTE_SETS = 500;

const remoteSet = (uri: string, allowPrivateNetwork: boolean): RemoteSet => {
  const key = `${allowPrivateNetwork ? 'dev' : 'prod'} ${uri}`;
  let set = remoteSets.get(key);
  if (!set) {
    if (remoteSets.size >= MAX_REMOTE_SETS) remoteSets.delete(remoteSets.keys().next().value!);
    set = createRemoteJWKSet(new URL(uri), {
      timeoutDuration: FETCH_TIMEOUT_MS,
      cooldownDuration: 30_000,
      cacheMaxAge: 600_000,
      [customFetch]: guardedJwksFetch(allowPrivateNetwork),
    });
    remoteSets.set(key, set);
  }
  return set;
};

export interface ClientKeyOptions {
  /** Local development mode: a jwks_uri may be plain http on loopback. */
  allowPrivateNetwork: boolean;
}

/** The key resolver for JWTs the client signs (assertions, request objects, login_hint_tokens). */
export const clientKeyResolver = (client: Client, options: ClientKeyOptions): JWTVerifyGetKey | undefined => {
  if (client.jwks) return createLocalJWKSet(client.jwks as JSONWebKeySet);
  if (client.jwksUri) return remoteSet(client.jwksUri, options.allowPrivateNetwork);
  return undefined;
};

/** The client's public keys as a set (self_signed_tls_client_auth compares a certificate's key with them). */
export const clientJwks = async (
  client: Client,
  options: ClientKeyOptions & { refresh?: boolean },
): Promise<JSONWebKeySet> => {
  if (client.jwks) return client.jwks as JSONWebKeySet;
  if (!client.jwksUri) return { keys: [] };
  const set = remoteSet(client.jwksUri, options.allowPrivateNetwork);
  if (set.jwks() === undefined || !set.fresh || (options.refresh && !set.coolingDown)) await set.reload();
  return set.jwks() ?? { keys: [] };
};
