import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { ExpiredLoginHintToken, InvalidRequest } from '../errors.ts';
import type { Client, Tenant } from '../model.ts';
import { CLOCK_SKEW_SECONDS } from '../oauth/client-assertion.ts';
import { ASYMMETRIC_ALGS, clientKeyResolver, FAPI_ALGS, privateNetworkAllowed } from '../oauth/client-keys.ts';
import { isFapi } from '../oauth/fapi.ts';
import type { TenantStore, UserStore } from '../persistence.ts';
import type { Clock, OutboundHttp, RuntimeConfig } from '../ports.ts';
import { soleMatch } from './hint-match.ts';

const E164 = /^\+[1-9]\d{1,14}$/;

/**
 * CIBA §7.1 `login_hint_token`, in this deployment's format: a JWS (asymmetric alg) issued either by the client
 * itself (`iss` = client_id, verified with the client's jwks/jwks_uri) or by an issuer the tenant trusts (setting
 * `login_hint_token_issuers: [{issuer, jwks}]`). If it has an `aud`, it must name this issuer or its backchannel
 * endpoint; `exp`, if present, is enforced (`expired_login_hint_token`). The user is named, in this order, by
 * - `sub_id` (RFC 9493 subject identifier): `{"format":"email","email"}`, `{"format":"phone_number","phone_number"}`,
 *   `{"format":"opaque","id":"<tenant user id>"}` or `{"format":"iss_sub","iss":"<this issuer>","sub"}`;
 * - `email`, then `phone_number` (E.164);
 * - `sub`: the tenant's user id.
 * Malformed, unverifiable and untrusted tokens are invalid_request; a token naming nobody resolves to undefined
 * (the caller answers unknown_user_id).
 */
export const resolveLoginHintToken = async (
  deps: {
    tenants: Pick<TenantStore, 'get'>;
    users: Pick<UserStore, 'findByEmail' | 'findByPhone'>;
    outbound: Pick<OutboundHttp, 'request'>;
    clock?: Clock;
    config?: RuntimeConfig;
  },
  input: { tenantId: string; issuer: string; client: Client; token: string },
): Promise<string | undefined> => {
  const { client, token } = input;
  const tenant: Tenant | undefined = await deps.tenants.get(input.tenantId);
  let iss: unknown;
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
    iss = decodeJwt(token).iss;
  } catch {
    throw new InvalidRequest('login_hint_token is not a signed JWT');
  }
  const allowed = tenant && isFapi(tenant, client) ? FAPI_ALGS : ASYMMETRIC_ALGS;
  if (typeof alg !== 'string' || !allowed.includes(alg))
    throw new InvalidRequest(`login_hint_token alg ${String(alg)} is not accepted`);
  let keys: JWTVerifyGetKey | undefined;
  if (iss === client.clientId) {
    keys = clientKeyResolver(client, {
      allowPrivateNetwork: deps.config !== undefined && privateNetworkAllowed(deps.config, tenant),
      outbound: deps.outbound,
    });
  } else {
    const trusted = tenant?.settings.loginHintTokenIssuers?.find((i) => i.issuer === iss);
    if (trusted) keys = createLocalJWKSet(trusted.jwks as Parameters<typeof createLocalJWKSet>[0]);
  }
  if (!keys) throw new InvalidRequest('login_hint_token is not from the client or an issuer this tenant trusts');

  let claims: Record<string, unknown>;
  try {
    ({ payload: claims } = await jwtVerify(token, keys, {
      algorithms: [alg],
      issuer: iss as string,
      currentDate: new Date(deps.clock?.now() ?? Date.now()),
      clockTolerance: CLOCK_SKEW_SECONDS,
    }));
  } catch (error) {
    if (error instanceof errors.JWTExpired) throw new ExpiredLoginHintToken('the login_hint_token has expired');
    throw new InvalidRequest('login_hint_token could not be verified');
  }
  if (claims.aud !== undefined) {
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!aud.includes(input.issuer) && !aud.includes(`${input.issuer}/bc-authorize`)) {
      throw new InvalidRequest('login_hint_token is meant for another audience');
    }
  }

  const byEmail = (email: unknown) =>
    typeof email === 'string' ? deps.users.findByEmail(input.tenantId, email).then(soleMatch) : undefined;
  const byPhone = (phone: unknown) => {
    if (typeof phone !== 'string' || !E164.test(phone))
      throw new InvalidRequest('login_hint_token phone_number must be E.164');
    return deps.users.findByPhone(input.tenantId, phone).then(soleMatch);
  };
  const subId = claims.sub_id;
  if (subId !== undefined) {
    if (!subId || typeof subId !== 'object') throw new InvalidRequest('login_hint_token sub_id must be an object');
    const id = subId as Record<string, unknown>;
    switch (id.format) {
      case 'email':
        return byEmail(id.email);
      case 'phone_number':
        return byPhone(id.phone_number);
      case 'opaque':
        return typeof id.id === 'string' ? id.id : undefined;
      case 'iss_sub':
        return id.iss === input.issuer && typeof id.sub === 'string' ? id.sub : undefined;
      default:
        throw new InvalidRequest('login_hint_token sub_id format must be email, phone_number, opaque or iss_sub');
    }
  }
  if (claims.email !== undefined) return byEmail(claims.email);
  if (claims.phone_number !== undefined) return byPhone(claims.phone_number);
  if (typeof claims.sub === 'string') return claims.sub;
  throw new InvalidRequest('login_hint_token names no user (sub_id, email, phone_number or sub)');
};
