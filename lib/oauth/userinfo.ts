import { createLocalJWKSet, jwtVerify } from 'jose';
import type { Tenant } from '../model.ts';
import type { Deps } from '../ports.ts';
import { OAuthError } from './errors.ts';
import { claimsForScope } from './scopes.ts';

/** RFC 6750 §3.1: 401 invalid_token with a WWW-Authenticate challenge. */
const invalidToken = (description: string, withCode = true) =>
  new OAuthError('invalid_token', description, 401, {
    'WWW-Authenticate': withCode ? `Bearer error="invalid_token", error_description="${description}"` : 'Bearer',
  });

/** OIDC Core §5.3: the claims of the token's subject that its scope releases. */
export const getUserInfo = async (
  deps: Pick<Deps, 'store' | 'keys' | 'clock'>,
  input: { tenant: Tenant; issuer: string; authorization: string | undefined },
): Promise<Record<string, unknown>> => {
  const match = /^Bearer\s+([A-Za-z0-9\-._~+/]+=*)\s*$/i.exec(input.authorization ?? '');
  if (!match) throw invalidToken('a bearer access token is required', false);
  let payload: Record<string, unknown>;
  try {
    const jwks = createLocalJWKSet(await deps.keys.publicJwks(input.tenant.tenantId));
    ({ payload } = await jwtVerify(match[1]!, jwks, {
      issuer: input.issuer,
      audience: input.issuer,
      typ: 'at+jwt',
      algorithms: [input.tenant.settings.signingAlg],
      currentDate: new Date(deps.clock.now()),
    }));
  } catch {
    throw invalidToken('the access token is invalid or expired');
  }
  const scope = typeof payload.scope === 'string' ? payload.scope : '';
  if (!scope.split(' ').includes('openid'))
    throw new OAuthError('insufficient_scope', 'the token lacks the openid scope', 403);
  const user = await deps.store.getUser(input.tenant.tenantId, String(payload.sub));
  if (!user) throw invalidToken('the token subject no longer exists');
  return claimsForScope(user, scope);
};
