import { sha256 } from '../crypto.ts';
import { InvalidRequest } from '../errors.ts';
import type { Client, Tenant } from '../model.ts';
import type { Deps } from '../ports.ts';
import { verifyAccessToken } from './access-token.ts';
import { BINDING_CLAIM, isGrantCurrent, isUserCurrent } from './grant-binding.ts';

const seconds = (ms: number) => Math.floor(ms / 1000);

/**
 * RFC 7662: whether a token is active, and what it grants. A client may introspect only the tokens issued to it:
 * any other token, like an invalid, expired or revoked one, is `{"active": false}` (§2.2, and no token scanning
 * across clients).
 */
export const introspectToken = async (
  deps: Pick<Deps, 'refreshTokens' | 'revocations' | 'users' | 'clients' | 'keys' | 'clock'>,
  input: { tenant: Tenant; issuer: string; client: Client; form: Record<string, string> },
): Promise<Record<string, unknown>> => {
  const { tenant, client } = input;
  const token = input.form.token;
  if (token === undefined) throw new InvalidRequest('token is required');
  const now = deps.clock.now();
  const inactive = { active: false };

  if (token.split('.').length !== 3) {
    const record = await deps.refreshTokens.get(sha256(token));
    if (
      !record ||
      record.tenantId !== tenant.tenantId ||
      record.clientId !== client.clientId ||
      !isGrantCurrent(record, tenant, client) ||
      record.usedAt !== undefined ||
      record.expiresAt <= now ||
      (await deps.revocations.isRevoked('refresh_family', record.familyId, now)) ||
      !isUserCurrent(await deps.users.get(tenant.tenantId, record.sub), record.authTime)
    ) {
      return inactive;
    }
    return {
      active: true,
      token_type: 'refresh_token',
      client_id: record.clientId,
      sub: record.sub,
      scope: record.scope,
      iss: input.issuer,
      iat: seconds(record.createdAt),
      exp: seconds(record.expiresAt),
      auth_time: seconds(record.authTime),
      ...(record.authorizationDetails ? { authorization_details: record.authorizationDetails } : {}),
    };
  }

  const payload = await verifyAccessToken(deps, { tenant, issuer: input.issuer, token });
  if (!payload || payload.client_id !== client.clientId) return inactive;
  const user = await deps.users.get(tenant.tenantId, String(payload.sub));
  if (!isUserCurrent(user, Number(payload.auth_time) * 1000 + 999)) return inactive;
  const { typ: _typ, [BINDING_CLAIM]: _binding, ...claims } = payload as Record<string, unknown>;
  return { active: true, token_type: 'Bearer', ...claims };
};
