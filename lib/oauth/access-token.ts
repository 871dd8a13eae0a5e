import { createLocalJWKSet, type JWTPayload, jwtVerify } from 'jose';
import type { Tenant } from '../model.ts';
import type { Deps } from '../ports.ts';

/**
 * Verifies one of this tenant's access tokens (RFC 9068: `typ` at+jwt, signed with the tenant's algorithm, `iss` and
 * `aud` this issuer, unexpired) and that it was not revoked (RFC 7009). Undefined when it is not a valid token.
 */
export const verifyAccessToken = async (
  deps: Pick<Deps, 'store' | 'keys' | 'clock'>,
  input: { tenant: Tenant; issuer: string; token: string },
): Promise<JWTPayload | undefined> => {
  let payload: JWTPayload;
  try {
    const jwks = createLocalJWKSet(await deps.keys.publicJwks(input.tenant.tenantId));
    ({ payload } = await jwtVerify(input.token, jwks, {
      issuer: input.issuer,
      audience: input.issuer,
      typ: 'at+jwt',
      algorithms: [input.tenant.settings.signingAlg],
      currentDate: new Date(deps.clock.now()),
    }));
  } catch {
    return undefined;
  }
  if (typeof payload.jti === 'string' && (await deps.store.isRevoked('access_token', payload.jti, deps.clock.now()))) {
    return undefined;
  }
  return payload;
};

/** The RFC 8705 §3.1 certificate thumbprint an access token is bound to, if any. */
export const boundThumbprint = (payload: JWTPayload): string | undefined => {
  const cnf = payload.cnf as Record<string, unknown> | undefined;
  const value = cnf?.['x5t#S256'];
  return typeof value === 'string' ? value : undefined;
};
