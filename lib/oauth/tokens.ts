import { createHash } from 'node:crypto';
import { randomToken } from '../crypto.ts';
import type { AuthRequest, Client, Tenant } from '../model.ts';
import type { Keys } from '../ports.ts';

export const ACCESS_TOKEN_TTL_SECONDS = 3600;
export const ID_TOKEN_TTL_SECONDS = 3600;
/** The acr this service achieves: the user approved on an enrolled device holding a private key. */
export const ACR_DEVICE_KEY = 'urn:ciba-service:acr:device-key';
export const ACR_VALUES_SUPPORTED = [ACR_DEVICE_KEY];

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  id_token: string;
  scope: string;
  refresh_token?: string;
}

/** OIDC Core §3.1.3.6: left half of the SHA-256 of the ASCII token, base64url (for ES256/PS256/RS256). */
export const halfHash = (token: string): string => {
  const digest = createHash('sha256').update(token, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
};

/**
 * Mints the access token (RFC 9068 JWT) and the ID token for an approved request.
 * The ID token carries the CIBA `urn:openid:params:jwt:claim:auth_req_id` claim (CIBA §10.3.1).
 */
export const mintTokens = async (
  keys: Keys,
  input: { issuer: string; tenant: Tenant; client: Client; request: AuthRequest; now: number },
): Promise<TokenResponse> => {
  const { issuer, tenant, client, request } = input;
  const alg = tenant.settings.signingAlg;
  const iat = Math.floor(input.now / 1000);
  const authTime = Math.floor((request.authTime ?? request.decidedAt ?? input.now) / 1000);
  const acr = request.acrValues ? { acr: ACR_DEVICE_KEY } : {};

  const accessToken = await keys.sign(
    tenant.tenantId,
    alg,
    { typ: 'at+jwt' },
    {
      iss: issuer,
      sub: request.sub,
      aud: issuer,
      client_id: client.clientId,
      scope: request.scope,
      iat,
      exp: iat + ACCESS_TOKEN_TTL_SECONDS,
      jti: randomToken(16),
      auth_time: authTime,
      ...acr,
      ...(request.authorizationDetails ? { authorization_details: request.authorizationDetails } : {}),
    },
  );

  const idToken = await keys.sign(
    tenant.tenantId,
    alg,
    { typ: 'JWT' },
    {
      ...request.claims,
      iss: issuer,
      sub: request.sub,
      aud: client.clientId,
      iat,
      exp: iat + ID_TOKEN_TTL_SECONDS,
      auth_time: authTime,
      ...acr,
      at_hash: halfHash(accessToken),
      'urn:openid:params:jwt:claim:auth_req_id': request.authReqId,
    },
  );

  return {
    access_token: accessToken,
    token_type: 'Bearer',
    expires_in: ACCESS_TOKEN_TTL_SECONDS,
    id_token: idToken,
    scope: request.scope,
  };
};
