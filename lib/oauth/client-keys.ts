import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  type FetchImplementation,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import type { Client, Tenant } from '../model.ts';
import type { OutboundHttp, RuntimeConfig } from '../ports.ts';

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
 * A `fetch` for jose's remote JWKS through the guarded outbound client: GET, no redirects (a 3xx is a failure),
 * at most 64 KB read, jose's abort signal honoured.
 */
const guardedJwksFetch =
  (outbound: Pick<OutboundHttp, 'request'>, allowPrivateNetwork: boolean): FetchImplementation =>
  async (url, options) => {
    const answer = await outbound.request(url, {
      method: 'GET',
      headers: { Accept: 'application/json' },
      allowPrivateNetwork,
      readBody: MAX_JWKS_BYTES,
      name: 'jwks_uri',
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if ('error' in answer) throw new Error(`jwks_uri: ${answer.error}`);
    return new Response(answer.body ?? null, {
      status: answer.status,
      headers: { 'content-type': String(answer.headers['content-type'] ?? 'application/json') },
    });
  };

type RemoteSet = ReturnType<typeof createRemoteJWKSet>;

/**
 * Remote key sets per jwks_uri, for the life of the process (a warm Lambda instance): jose caches the keys for
 * 10 minutes and refetches on an unknown `kid` (at most every 30 s). One cache per outbound client (the process has
 * one; tests make several).
 */
const remoteSetsOf = new WeakMap<object, Map<string, RemoteSet>>();
const MAX_REMOTE_SETS = 500;

const remoteSet = (outbound: Pick<OutboundHttp, 'request'>, uri: string, allowPrivateNetwork: boolean): RemoteSet => {
  let remoteSets = remoteSetsOf.get(outbound);
  if (!remoteSets) {
    remoteSets = new Map();
    remoteSetsOf.set(outbound, remoteSets);
  }
  const key = `${allowPrivateNetwork ? 'dev' : 'prod'} ${uri}`;
  let set = remoteSets.get(key);
  if (!set) {
    if (remoteSets.size >= MAX_REMOTE_SETS) remoteSets.delete(remoteSets.keys().next().value!);
    set = createRemoteJWKSet(new URL(uri), {
      timeoutDuration: FETCH_TIMEOUT_MS,
      cooldownDuration: 30_000,
      cacheMaxAge: 600_000,
      [customFetch]: guardedJwksFetch(outbound, allowPrivateNetwork),
    });
    remoteSets.set(key, set);
  }
  return set;
};

/** Whether calls for this tenant may go to loopback and private addresses (its development mode, where allowed). */
export const privateNetworkAllowed = (config: RuntimeConfig, tenant: Pick<Tenant, 'settings'> | undefined): boolean =>
  config.capabilities.developmentModeAllowed && tenant?.settings.developmentMode === true;

export interface ClientKeyOptions {
  /** Local development mode: a jwks_uri may be plain http on loopback. */
  allowPrivateNetwork: boolean;
  /** The guarded outbound client that fetches a jwks_uri (hardening rule 3). */
  outbound: Pick<OutboundHttp, 'request'>;
}

/** The key resolver for JWTs the client signs (assertions, request objects, login_hint_tokens). */
export const clientKeyResolver = (client: Client, options: ClientKeyOptions): JWTVerifyGetKey | undefined => {
  if (client.jwks) return createLocalJWKSet(client.jwks as JSONWebKeySet);
  if (client.jwksUri) return remoteSet(options.outbound, client.jwksUri, options.allowPrivateNetwork);
  return undefined;
};

/** The client's public keys as a set (self_signed_tls_client_auth compares a certificate's key with them). */
export const clientJwks = async (
  client: Client,
  options: ClientKeyOptions & { refresh?: boolean },
): Promise<JSONWebKeySet> => {
  if (client.jwks) return client.jwks as JSONWebKeySet;
  if (!client.jwksUri) return { keys: [] };
  const set = remoteSet(options.outbound, client.jwksUri, options.allowPrivateNetwork);
  if (set.jwks() === undefined || !set.fresh || (options.refresh && !set.coolingDown)) await set.reload();
  return set.jwks() ?? { keys: [] };
};
