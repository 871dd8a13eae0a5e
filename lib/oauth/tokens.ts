import { createHash } from 'node:crypto';
import { randomToken } from '../crypto.ts';
import {
  ACCESS_TOKEN_TTL_SECONDS,
  type AuthRequest,
  type Client,
  type GrantBinding,
  ID_TOKEN_TTL_SECONDS,
  type Tenant,
} from '../model.ts';
import type { Keys } from '../ports.ts';
import { BINDING_CLAIM, bindingClaim, grantBindingOf } from './grant-binding.ts';

export { ACCESS_TOKEN_TTL_SECONDS, ID_TOKEN_TTL_SECONDS } from '../model.ts';
/** The acr this service achieves: the user approved on an enrolled device holding a private key. */
export const ACR_DEVICE_KEY = 'urn:ciba-service:acr:device-key';
/** The device key signed the approval and a passkey verified the user (tenants with `user_verification: passkey`). */
export const ACR_DEVICE_KEY_USER_VERIFIED = 'urn:ciba-service:acr:device-key+passkey';
export const ACR_VALUES_SUPPORTED = [ACR_DEVICE_KEY, ACR_DEVICE_KEY_USER_VERIFIED];
/** The user approved through a one-time link sent to their email address or phone number (docs/channels.md). */
export const ACR_EMAIL_LINK = 'urn:ciba-service:acr:email-link';
export const ACR_SMS_LINK = 'urn:ciba-service:acr:sms-link';

/** The acrs of a tenant: the device's, and a link's for each link channel it has. */
export const acrValuesSupported = (channels: readonly string[]): string[] => [
  ...ACR_VALUES_SUPPORTED,
  ...(channels.includes('email') ? [ACR_EMAIL_LINK] : []),
  ...(channels.includes('sms') ? [ACR_SMS_LINK] : []),
];

/**
 * The acr the approval achieved: a link's always (the client must be able to tell a link from a device key), else
 * always stated after user verification, else when the client asked for one.
 */
export const achievedAcr = (request: Pick<AuthRequest, 'acrValues' | 'evidence'>): { acr?: string } =>
  request.evidence?.channel
    ? { acr: request.evidence.channel === 'email' ? ACR_EMAIL_LINK : ACR_SMS_LINK }
    : request.evidence?.userVerified
      ? { acr: ACR_DEVICE_KEY_USER_VERIFIED }
      : request.acrValues
        ? { acr: ACR_DEVICE_KEY }
        : {};

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  id_token: string;
  scope: string;
  refresh_token?: string;
  /** RFC 9396 §7: the granted authorization details. */
  authorization_details?: unknown[];
}

/** The refresh_token grant's answer: no new ID token (OIDC Core §12.2 makes it optional). */
export type RefreshedTokenResponse = Omit<TokenResponse, 'id_token'>;

/** OIDC Core §3.1.3.6: left half of the SHA-256 of the ASCII token, base64url (for ES256/PS256/RS256). */
export const halfHash = (token: string): string => {
  const digest = createHash('sha256').update(token, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
};

/**
 * What an access token grants: from an approved request, or from the refresh token that continues it; with the
 * tenant and client generations it was earned under (hardening rule 7, lib/oauth/grant-binding.ts).
 */
export interface AccessGrant extends GrantBinding {
  sub: string;
  scope: string;
  /** Epoch milliseconds. */
  authTime: number;
  acr?: string;
  authorizationDetails?: unknown[];
}

/** A token endpoint request of an authenticated client (the CIBA and refresh_token grants). */
export interface GrantRequest {
  tenant: Tenant;
  issuer: string;
  client: Client;
  form: Record<string, string>;
  /** RFC 8705 §3: the access token is bound to this certificate (mTLS and FAPI clients). */
  certificateThumbprint?: string;
}

/** What an approved request grants, as a refresh token carries it on. */
export const accessGrantOf = (request: AuthRequest, now: number): AccessGrant => ({
  sub: request.sub,
  scope: request.scope,
  authTime: request.authTime ?? request.decidedAt ?? now,
  ...achievedAcr(request),
  ...(request.authorizationDetails ? { authorizationDetails: request.authorizationDetails } : {}),
  ...grantBindingOf(request),
});

/**
 * An RFC 9068 JWT access token. `certificateThumbprint` binds it to the client's TLS certificate (RFC 8705 §3.1:
 * `cnf.x5t#S256`); the resource server then accepts it only over a connection with that certificate.
 */
export const mintAccessToken = async (
  keys: Keys,
  input: {
    issuer: string;
    tenant: Tenant;
    clientId: string;
    grant: AccessGrant;
    now: number;
    certificateThumbprint?: string;
  },
): Promise<string> => {
  const { issuer, tenant, grant } = input;
  const iat = Math.floor(input.now / 1000);
  return keys.sign(
    tenant.tenantId,
    tenant.settings.signingAlg,
    { typ: 'at+jwt' },
    {
      iss: issuer,
      sub: grant.sub,
      aud: issuer,
      client_id: input.clientId,
      scope: grant.scope,
      iat,
      exp: iat + ACCESS_TOKEN_TTL_SECONDS,
      // FAPI 1.0 Baseline §5.2.2-16: at least 128 bits of entropy.
      jti: randomToken(16),
      auth_time: Math.floor(grant.authTime / 1000),
      ...(grant.acr ? { acr: grant.acr } : {}),
      ...(grant.authorizationDetails ? { authorization_details: grant.authorizationDetails } : {}),
      ...(input.certificateThumbprint ? { cnf: { 'x5t#S256': input.certificateThumbprint } } : {}),
      [BINDING_CLAIM]: bindingClaim(grant),
    },
  );
};

/**
 * Mints the access token (RFC 9068 JWT) and the ID token for an approved request.
 * The ID token carries the CIBA `urn:openid:params:jwt:claim:auth_req_id` claim (CIBA §10.3.1), and
 * `urn:openid:params:jwt:claim:rt_hash` when a refresh token comes with it.
 */
export const mintTokens = async (
  keys: Keys,
  input: {
    issuer: string;
    tenant: Tenant;
    client: Client;
    request: AuthRequest;
    now: number;
    certificateThumbprint?: string;
    refreshToken?: string;
  },
): Promise<TokenResponse> => {
  const { issuer, tenant, client, request } = input;
  const alg = tenant.settings.signingAlg;
  const iat = Math.floor(input.now / 1000);
  const authTimeMs = request.authTime ?? request.decidedAt ?? input.now;
  const acr = achievedAcr(request);

  const accessToken = await mintAccessToken(keys, {
    issuer,
    tenant,
    clientId: client.clientId,
    now: input.now,
    grant: accessGrantOf(request, input.now),
    ...(input.certificateThumbprint ? { certificateThumbprint: input.certificateThumbprint } : {}),
  });

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
      auth_time: Math.floor(authTimeMs / 1000),
      ...acr,
      at_hash: halfHash(accessToken),
      'urn:openid:params:jwt:claim:auth_req_id': request.authReqId,
      ...(input.refreshToken ? { 'urn:openid:params:jwt:claim:rt_hash': halfHash(input.refreshToken) } : {}),
    },
  );

  return {
    access_token: accessToken,
    token_type: 'Bearer',
    expires_in: ACCESS_TOKEN_TTL_SECONDS,
    id_token: idToken,
    scope: request.scope,
    ...(input.refreshToken ? { refresh_token: input.refreshToken } : {}),
    ...(request.authorizationDetails ? { authorization_details: request.authorizationDetails } : {}),
  };
};
