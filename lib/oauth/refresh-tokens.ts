import { randomToken, sha256 } from '../crypto.ts';
import { InvalidGrant, InvalidRequest, InvalidScope, UnauthorizedClient } from '../errors.ts';
import { type Client, REFRESH_TOKEN_GRANT_TYPE, type RefreshTokenRecord, type Tenant } from '../model.ts';
import type { RefreshTokenStore } from '../persistence.ts';
import type { Deps } from '../ports.ts';
import { grantedSubset } from './authorization-details.ts';
import { grantBindingOf, isGrantCurrent, isUserCurrent } from './grant-binding.ts';
import { splitScope } from './scopes.ts';
import {
  ACCESS_TOKEN_TTL_SECONDS,
  type AccessGrant,
  type GrantRequest,
  mintAccessToken,
  type RefreshedTokenResponse,
} from './tokens.ts';

export const DEFAULT_REFRESH_TOKEN_TTL_SECONDS = 30 * 86_400;
/** A revoked family is remembered this much longer than its newest token can live. */
const REVOCATION_MARGIN_MS = 86_400_000;

export const refreshTokenTtlMs = (tenant: Tenant): number =>
  (tenant.settings.refreshTokenTtlSeconds ?? DEFAULT_REFRESH_TOKEN_TTL_SECONDS) * 1000;

/** A refresh token is issued when the client may use the grant and the user approved `offline_access`. */
export const wantsRefreshToken = (client: Client, scope: string): boolean =>
  client.grantTypes.includes(REFRESH_TOKEN_GRANT_TYPE) && splitScope(scope).includes('offline_access');

/**
 * Issues an opaque refresh token (256 bits) and stores only its SHA-256, bound to the client, with a sliding
 * lifetime (tenant setting `refresh_token_ttl`, 30 days by default). A rotation passes the family on.
 */
export const issueRefreshToken = async (
  deps: { refreshTokens: Pick<RefreshTokenStore, 'create'> },
  input: { tenant: Tenant; clientId: string; grant: AccessGrant; now: number; familyId?: string },
): Promise<string> => {
  const token = randomToken(32);
  const record: RefreshTokenRecord = {
    tokenHash: sha256(token),
    familyId: input.familyId ?? randomToken(16),
    tenantId: input.tenant.tenantId,
    clientId: input.clientId,
    sub: input.grant.sub,
    scope: input.grant.scope,
    authTime: input.grant.authTime,
    createdAt: input.now,
    expiresAt: input.now + refreshTokenTtlMs(input.tenant),
    ...(input.grant.acr ? { acr: input.grant.acr } : {}),
    ...(input.grant.authorizationDetails ? { authorizationDetails: input.grant.authorizationDetails } : {}),
    ...grantBindingOf(input.grant),
  };
  if ((await deps.refreshTokens.create(record)) !== 'ok') throw new Error('refresh token collision');
  return token;
};

/** Revokes every refresh token of a family, including ones rotated later from a token in flight. */
export const revokeFamily = (deps: Pick<Deps, 'revocations'>, tenant: Tenant, familyId: string, now: number) =>
  deps.revocations.revoke('refresh_family', familyId, now + refreshTokenTtlMs(tenant) + REVOCATION_MARGIN_MS);

/**
 * RFC 6749 §6 with rotation (RFC 9700 §4.14.2): the presented token is marked used in one conditional write and a
 * new one of the same family replaces it. A token presented a second time means two parties hold it: the whole
 * family is revoked and both are refused. A narrower `scope` or `authorization_details` narrows the access token
 * only; the new refresh token keeps the original grant (RFC 6749 §6).
 */
export const refreshTokenGrant = async (
  deps: Pick<Deps, 'refreshTokens' | 'revocations' | 'users' | 'keys' | 'clock' | 'logger'>,
  input: GrantRequest,
): Promise<RefreshedTokenResponse> => {
  const { tenant, client, form } = input;
  if (!client.grantTypes.includes(REFRESH_TOKEN_GRANT_TYPE)) {
    throw new UnauthorizedClient('the client is not registered for the refresh_token grant');
  }
  const token = form.refresh_token;
  if (token === undefined) throw new InvalidRequest('refresh_token is required');
  const now = deps.clock.now();
  const invalid = () =>
    new InvalidGrant('the refresh token is invalid, expired, revoked or was not issued to this client');
  const hash = sha256(token);
  // The request is checked against the stored grant first, so a refused narrowing does not spend the token.
  const stored = await deps.refreshTokens.get(hash);
  if (
    !stored ||
    stored.tenantId !== tenant.tenantId ||
    stored.clientId !== client.clientId ||
    !isGrantCurrent(stored, tenant, client)
  ) {
    throw invalid();
  }
  let scope = stored.scope;
  if (form.scope !== undefined) {
    const granted = splitScope(stored.scope);
    const requested = [...new Set(splitScope(form.scope))];
    const extra = requested.filter((s) => !granted.includes(s));
    if (extra.length > 0) throw new InvalidScope(`scope exceeds the original grant: ${extra.join(' ')}`);
    scope = requested.join(' ');
  }
  const authorizationDetails = grantedSubset(stored.authorizationDetails, form.authorization_details);

  // Hardening rule 7: the user who approved must still exist (a deleted user's grants end with them).
  if (!isUserCurrent(await deps.users.get(tenant.tenantId, stored.sub), stored.authTime)) throw invalid();
  const used = await deps.refreshTokens.use(hash, { tenantId: tenant.tenantId, clientId: client.clientId }, now);
  if (!used) throw invalid();
  const { record } = used;
  if (used.outcome === 'reused') {
    await revokeFamily(deps, tenant, record.familyId, now);
    deps.logger.warn('refresh token replayed: family revoked', { tenant: tenant.tenantId, client: client.clientId });
    throw invalid();
  }
  if (await deps.revocations.isRevoked('refresh_family', record.familyId, now)) throw invalid();

  const grant: AccessGrant = {
    sub: record.sub,
    scope: record.scope,
    authTime: record.authTime,
    ...(record.acr ? { acr: record.acr } : {}),
    ...(record.authorizationDetails ? { authorizationDetails: record.authorizationDetails } : {}),
    ...grantBindingOf(record),
  };
  const accessToken = await mintAccessToken(deps.keys, {
    issuer: input.issuer,
    tenant,
    clientId: client.clientId,
    now,
    grant: {
      ...grant,
      scope,
      ...(authorizationDetails ? { authorizationDetails } : {}),
    },
    ...(input.certificateThumbprint ? { certificateThumbprint: input.certificateThumbprint } : {}),
  });
  const refreshToken = await issueRefreshToken(deps, {
    tenant,
    clientId: client.clientId,
    grant,
    now,
    familyId: record.familyId,
  });
  return {
    access_token: accessToken,
    token_type: 'Bearer',
    expires_in: ACCESS_TOKEN_TTL_SECONDS,
    scope,
    refresh_token: refreshToken,
    ...(authorizationDetails ? { authorization_details: authorizationDetails } : {}),
  };
};
