import { decodeProtectedHeader, errors, jwtVerify } from 'jose';
import { JsonInputProblem, parseJsonText } from '../json-input.ts';
import type { Client, Tenant } from '../model.ts';
import type { ReplayGuard } from '../persistence.ts';
import type { Clock, Keys, OutboundHttp, RuntimeConfig } from '../ports.ts';
import { ASYMMETRIC_ALGS, clientKeyResolver, FAPI_ALGS, privateNetworkAllowed } from './client-keys.ts';
import { CLIENT_SECRET_JWT_ALG, deriveClientSecret } from './client-secret-jwt.ts';
import { isFapi } from './fapi.ts';
import { mtlsBaseUrl } from './mtls.ts';

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Clock skew tolerated on `exp`, `nbf` and `iat`. */
export const CLOCK_SKEW_SECONDS = 30;
/** An assertion may not live longer than this: it bounds how long its `jti` is remembered. */
const MAX_ASSERTION_LIFETIME_SECONDS = 3600;

/** Ledger key prefixes for single-use `jti`s, one namespace per kind of JWT and client. */
export const jtiNamespace = (kind: 'assertion' | 'request', tenantId: string, clientId: string): string =>
  `${kind === 'assertion' ? 'CA' : 'RO'}:${tenantId}/${clientId}`;

/**
 * The audiences this issuer accepts for JWTs clients sign for it. CIBA §7.1: the issuer, the token endpoint and
 * the backchannel endpoint (RFC 7523 §3 would allow only the token endpoint; CIBA 1.0 widens it); also the
 * revocation and introspection endpoints, and each endpoint's mTLS alias.
 */
export const acceptedAudiences = (tenant: Tenant, issuer: string, config: RuntimeConfig): string[] => {
  const paths = ['/oauth/token', '/bc-authorize', '/oauth/revoke', '/oauth/introspect'];
  const out = [issuer, ...paths.map((p) => `${issuer}${p}`)];
  const mtls = mtlsBaseUrl(tenant, config);
  if (mtls) out.push(...paths.map((p) => `${mtls}/${tenant.tenantId}${p}`));
  return out;
};

export class AssertionRejected extends Error {}

/**
 * Verifies a signed JWT from a client (private_key_jwt assertions, signed requests): a compact JWS with an
 * asymmetric `alg` (PS256/ES256 only under FAPI, and the registered one when there is one), signed by a key of the
 * client's JWKS, with `iss` and `exp` (and whatever `required` adds), `exp` in the future, `nbf` and `iat` not in
 * the future. Throws AssertionRejected with a description; the caller decides the wire error.
 */
export const verifyClientJwt = async (
  deps: { clock: Clock; config: RuntimeConfig; outbound: Pick<OutboundHttp, 'request'> },
  input: {
    tenant: Tenant;
    client: Client;
    jwt: string;
    registeredAlg: string | undefined;
    audiences: string[];
    required: string[];
    subject?: string;
    maxLifetimeSeconds?: number;
    /** client_secret_jwt: the client's (derived) secret; the JWT must then be HS256 and is verified with it alone. */
    secret?: Uint8Array;
  },
): Promise<Record<string, unknown> & { exp: number }> => {
  const { tenant, client, jwt } = input;
  if (jwt.split('.').length !== 3)
    throw new AssertionRejected('the JWT must be a compact JWS (encrypted JWTs are not accepted)');
  let alg: string;
  try {
    alg = String(decodeProtectedHeader(jwt).alg);
  } catch {
    throw new AssertionRejected('the JWT is malformed');
  }
  const allowed =
    input.secret !== undefined ? [CLIENT_SECRET_JWT_ALG] : isFapi(tenant, client) ? FAPI_ALGS : ASYMMETRIC_ALGS;
  if (!allowed.includes(alg)) throw new AssertionRejected(`the JWT alg ${alg} is not accepted`);
  if (input.registeredAlg !== undefined && alg !== input.registeredAlg) {
    throw new AssertionRejected(`the JWT must be signed with the registered alg ${input.registeredAlg}`);
  }
  const keys =
    input.secret ??
    clientKeyResolver(client, {
      allowPrivateNetwork: privateNetworkAllowed(deps.config, tenant),
      outbound: deps.outbound,
    });
  if (!keys) throw new AssertionRejected('the client has no registered jwks or jwks_uri');
  const now = deps.clock.now();
  let payload: Record<string, unknown>;
  try {
    // jose compares an HMAC in constant time (WebCrypto verify).
    ({ payload } = await jwtVerify(jwt, keys as Parameters<typeof jwtVerify>[1], {
      algorithms: [alg],
      issuer: client.clientId,
      audience: input.audiences,
      ...(input.subject !== undefined ? { subject: input.subject } : {}),
      requiredClaims: ['iss', 'aud', 'exp', ...input.required],
      currentDate: new Date(now),
      clockTolerance: CLOCK_SKEW_SECONDS,
    }));
  } catch (error) {
    if (error instanceof errors.JWTClaimValidationFailed) {
      throw new AssertionRejected(`the JWT ${error.claim} claim is missing or invalid`);
    }
    if (error instanceof errors.JWTExpired) throw new AssertionRejected('the JWT has expired');
    throw new AssertionRejected('the JWT signature could not be verified with the client keys');
  }
  // The payload as sent, through the one validation step for JSON input (hardening rule 4): jose's JSON.parse turns
  // 1e400 into Infinity and rounds integers above 2^53, which a request object would then carry into the request.
  try {
    parseJsonText(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'), 'the JWT payload');
  } catch (error) {
    if (error instanceof JsonInputProblem) throw new AssertionRejected(error.message);
    throw error;
  }
  const nowSeconds = Math.floor(now / 1000);
  const exp = payload.exp as number;
  if (payload.iat !== undefined && (typeof payload.iat !== 'number' || payload.iat > nowSeconds + CLOCK_SKEW_SECONDS)) {
    throw new AssertionRejected('the JWT iat claim is in the future');
  }
  if (exp > nowSeconds + (input.maxLifetimeSeconds ?? MAX_ASSERTION_LIFETIME_SECONDS) + CLOCK_SKEW_SECONDS) {
    throw new AssertionRejected('the JWT exp claim is too far in the future');
  }
  if (
    input.required.includes('jti') &&
    (typeof payload.jti !== 'string' || payload.jti === '' || payload.jti.length > 256)
  ) {
    throw new AssertionRejected('the JWT jti claim is missing or invalid');
  }
  return payload as Record<string, unknown> & { exp: number };
};

/**
 * RFC 7523 §3 + OIDC Core §9 private_key_jwt and client_secret_jwt: `iss` = `sub` = client_id, `aud` one of ours,
 * `exp` required, `jti` used once across every endpoint (recorded in the ledger until the assertion expires).
 * A client_secret_jwt assertion is HS256 under the client's derived secret (lib/oauth/client-secret-jwt.ts).
 */
export const verifyClientAssertion = async (
  deps: {
    replay: ReplayGuard;
    clock: Clock;
    config: RuntimeConfig;
    keys: Pick<Keys, 'macWith'>;
    outbound: Pick<OutboundHttp, 'request'>;
  },
  input: { tenant: Tenant; client: Client; assertion: string; issuer: string },
): Promise<void> => {
  const { tenant, client } = input;
  let secret: Uint8Array | undefined;
  if (client.tokenEndpointAuthMethod === 'client_secret_jwt') {
    if (client.secretSalt === undefined) throw new AssertionRejected('the client has no client_secret_jwt secret');
    // Only a well-formed HS256 JWT costs a MAC (a KMS call in AWS).
    try {
      if (decodeProtectedHeader(input.assertion).alg !== CLIENT_SECRET_JWT_ALG) {
        throw new AssertionRejected(`a client_secret_jwt assertion must be ${CLIENT_SECRET_JWT_ALG}`);
      }
    } catch (error) {
      if (error instanceof AssertionRejected) throw error;
      throw new AssertionRejected('the JWT is malformed');
    }
    const derived = await deriveClientSecret(deps.keys, tenant.tenantId, client.clientId, client.secretSalt);
    if (derived === undefined)
      throw new AssertionRejected('the client_secret_jwt secret of the client no longer exists');
    secret = new TextEncoder().encode(derived);
  }
  const payload = await verifyClientJwt(deps, {
    tenant,
    client,
    jwt: input.assertion,
    ...(secret ? { secret } : {}),
    registeredAlg: client.tokenEndpointAuthSigningAlg,
    audiences: acceptedAudiences(tenant, input.issuer, deps.config),
    required: ['sub', 'jti'],
    subject: client.clientId,
  });
  const fresh = await deps.replay.useOnce(
    `${jtiNamespace('assertion', tenant.tenantId, client.clientId)}#${payload.jti as string}`,
    (payload.exp + CLOCK_SKEW_SECONDS) * 1000,
  );
  if (!fresh) throw new AssertionRejected('the client assertion was already used');
};
