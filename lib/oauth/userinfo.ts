import { secretsEqual } from '../crypto.ts';
import { InsufficientScope, InvalidToken } from '../errors.ts';
import type { Tenant } from '../model.ts';
import type { Deps } from '../ports.ts';
import { boundThumbprint, verifyAccessToken } from './access-token.ts';
import { isUserCurrent } from './grant-binding.ts';
import { claimsForScope } from './scopes.ts';

/** RFC 6750 §3.1: 401 invalid_token with a WWW-Authenticate challenge. */
const invalidToken = (description: string, withCode = true) =>
  new InvalidToken(description, {
    headers: {
      'WWW-Authenticate': withCode ? `Bearer error="invalid_token", error_description="${description}"` : 'Bearer',
    },
  });

/**
 * OIDC Core §5.3: the claims of the token's subject that its scope releases. A certificate-bound token (RFC 8705
 * §3: `cnf.x5t#S256`) is accepted only over a TLS connection that presents that same certificate.
 */
export const getUserInfo = async (
  deps: Pick<Deps, 'users' | 'clients' | 'revocations' | 'keys' | 'clock'>,
  input: { tenant: Tenant; issuer: string; authorization: string | undefined; certificateThumbprint?: string },
): Promise<Record<string, unknown>> => {
  const match = /^Bearer\s+([A-Za-z0-9\-._~+/]+=*)\s*$/i.exec(input.authorization ?? '');
  if (!match) throw invalidToken('a bearer access token is required', false);
  const payload = await verifyAccessToken(deps, { tenant: input.tenant, issuer: input.issuer, token: match[1]! });
  if (!payload) throw invalidToken('the access token is invalid or expired');
  const bound = boundThumbprint(payload);
  if (bound !== undefined && !(input.certificateThumbprint && secretsEqual(bound, input.certificateThumbprint))) {
    throw invalidToken('the access token is bound to a TLS client certificate that this request did not present');
  }
  const scope = typeof payload.scope === 'string' ? payload.scope : '';
  if (!scope.split(' ').includes('openid')) throw new InsufficientScope('the token lacks the openid scope');
  const user = await deps.users.get(input.tenant.tenantId, String(payload.sub));
  // Hardening rule 7: also not a user created again under the sub after the approval (auth_time is in seconds).
  if (!user || !isUserCurrent(user, Number(payload.auth_time) * 1000 + 999)) {
    throw invalidToken('the token subject no longer exists');
  }
  return claimsForScope(user, scope);
};
