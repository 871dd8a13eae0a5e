import { sha256 } from '../crypto.ts';
import { InvalidRequest } from '../errors.ts';
import type { Client, Tenant } from '../model.ts';
import type { Deps } from '../ports.ts';
import { verifyAccessToken } from './access-token.ts';
import { revokeFamily } from './refresh-tokens.ts';

/** Looks like one of our JWT access tokens (three base64url parts), as opposed to an opaque refresh token. */
const looksLikeJwt = (token: string) => token.split('.').length === 3;

/**
 * RFC 7009: revokes a refresh token (its whole family) or an access token (by `jti`, until it expires), when it
 * was issued to the authenticated client. The answer is the same 200 whether or not there was anything to revoke
 * (§2.2: an invalid token is not an error), so it reveals nothing about other clients' tokens.
 */
export const revokeToken = async (
  deps: Pick<Deps, 'refreshTokens' | 'revocations' | 'clients' | 'keys' | 'clock' | 'logger'>,
  input: { tenant: Tenant; issuer: string; client: Client; form: Record<string, string> },
): Promise<void> => {
  const { tenant, client } = input;
  const token = input.form.token;
  if (token === undefined) throw new InvalidRequest('token is required');
  const now = deps.clock.now();
  if (!looksLikeJwt(token)) {
    const record = await deps.refreshTokens.get(sha256(token));
    if (record && record.tenantId === tenant.tenantId && record.clientId === client.clientId) {
      await revokeFamily(deps, tenant, record.familyId, now);
      deps.logger.info('refresh token revoked', { tenant: tenant.tenantId, client: client.clientId });
    }
    return;
  }
  const payload = await verifyAccessToken(deps, { tenant, issuer: input.issuer, token });
  if (!payload || payload.client_id !== client.clientId || typeof payload.jti !== 'string') return;
  const exp = typeof payload.exp === 'number' ? payload.exp * 1000 : now + 3_600_000;
  await deps.revocations.revoke('access_token', payload.jti, exp);
  deps.logger.info('access token revoked', { tenant: tenant.tenantId, client: client.clientId });
};
