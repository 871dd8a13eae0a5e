import { createLocalJWKSet, type JWTPayload, jwtVerify } from 'jose';
import type { Tenant } from '../model.ts';
import type { Deps } from '../ports.ts';
import { BINDING_CLAIM, bindingFromClaim, isGrantCurrent } from './grant-binding.ts';

/**
 * Verifies one of this tenant's access tokens (RFC 9068: `typ` at+jwt, signed with the tenant's algorithm, `iss` and
 * `aud` this issuer, unexpired), that it was not revoked (RFC 7009) and that its client and tenant were not deleted
 * since (hardening rule 7). Undefined when it is not a valid token.
 */
export const verifyAccessToken = async (
  deps: Pick<Deps, 'clients' | 'revocations' | 'keys' | 'clock'>,
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
  // Hardening rule 7: issued to the client and tenant as registered now, not to a deleted (or re-created) one.
  const binding = bindingFromClaim(payload[BINDING_CLAIM]);
  if (binding === undefined || typeof payload.client_id !== 'string') return undefined;
  const [client, revoked] = await Promise.all([
    deps.clients.get(input.tenant.tenantId, payload.client_id),
    typeof payload.jti === 'string' ? deps.revocations.isRevoked('access_token', payload.jti, deps.clock.now()) : false,
  ]);
  if (revoked || !isGrantCurrent(binding, input.tenant, client)) return undefined;
  return payload;
};

/** The RFC 8705 §3.1 certificate thumbprint an access token is bound to, if any. */
export const boundThumbprint = (payload: JWTPayload): string | undefined => {
  const cnf = payload.cnf as Record<string, unknown> | undefined;
  const value = cnf?.['x5t#S256'];
  return typeof value === 'string' ? value : undefined;
};
