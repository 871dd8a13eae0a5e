import * as z from 'zod';
import { InvalidClientMetadata } from '../errors.ts';
import type { Client, DeliveryMode, JsonWebKeyPublic, Tenant, TlsClientAuthMatch } from '../model.ts';
import { TOKEN_ENDPOINT_AUTH_METHODS } from '../oauth/client-authentication.ts';
import { ASYMMETRIC_ALGS, REQUEST_SIGNING_ALGS } from '../oauth/client-keys.ts';
import { CLIENT_SECRET_JWT_ALG } from '../oauth/client-secret-jwt.ts';
import { FAPI_ALGS, FAPI_AUTH_METHODS, FAPI_DELIVERY_MODES, MTLS_AUTH_METHODS } from '../oauth/fapi.ts';
import type { OutboundHttp } from '../ports.ts';

/** Client metadata for strong client authentication, signed requests, RAR and FAPI (RFC 7591, RFC 8705, CIBA §4). */
export const StrongAuthMetadataShape = {
  jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1).max(20) }).optional(),
  jwks_uri: z.string().max(2048).optional(),
  token_endpoint_auth_signing_alg: z.string().optional(),
  tls_client_auth_subject_dn: z.string().min(1).max(1024).optional(),
  tls_client_auth_san_dns: z.string().min(1).max(255).optional(),
  tls_client_auth_san_uri: z.string().min(1).max(2048).optional(),
  tls_client_auth_san_ip: z.string().min(1).max(64).optional(),
  tls_client_auth_san_email: z.string().min(1).max(255).optional(),
  backchannel_authentication_request_signing_alg: z.string().optional(),
  subject_type: z.string().optional(),
  authorization_details_types: z.array(z.string().min(1).max(200)).max(50).optional(),
  fapi: z.boolean().optional(),
};

const StrongAuthMetadata = z.object(StrongAuthMetadataShape);
type StrongAuthInput = z.infer<typeof StrongAuthMetadata> & {
  token_endpoint_auth_method: string;
  backchannel_token_delivery_mode?: string | undefined;
};

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];
const TLS_FIELDS = [
  ['tls_client_auth_subject_dn', 'subjectDn'],
  ['tls_client_auth_san_dns', 'sanDns'],
  ['tls_client_auth_san_uri', 'sanUri'],
  ['tls_client_auth_san_ip', 'sanIp'],
  ['tls_client_auth_san_email', 'sanEmail'],
] as const;

/** Public asymmetric keys only: a registered private or symmetric key is a leak, refused rather than stored. */
const checkJwks = (jwks: { keys: Record<string, unknown>[] }) => {
  for (const key of jwks.keys) {
    if (typeof key.kty !== 'string' || !['RSA', 'EC', 'OKP'].includes(key.kty)) {
      throw new InvalidClientMetadata('jwks keys must be public RSA, EC or OKP keys');
    }
    if (PRIVATE_MEMBERS.some((m) => key[m] !== undefined)) {
      throw new InvalidClientMetadata('jwks must hold public keys only: remove the private key members');
    }
  }
};

/**
 * Validates the strong-authentication metadata against CIBA §4, RFC 8705 §2.1.2 and FAPI-CIBA, and returns the
 * client fields it sets. Every failure is 400 invalid_client_metadata.
 *
 * client_secret_jwt needs no stored secret: its secret is derived from the tenant's HMAC key and a per-client salt
 * (lib/oauth/client-secret-jwt.ts), so secrets stay unrecoverable from the tables (SECURITY.md, "What each secret protects"). Its
 * assertions are HS256 only; FAPI forbids the method.
 */
export const validateStrongAuthMetadata = (
  outbound: Pick<OutboundHttp, 'refusal'>,
  tenant: Tenant,
  m: StrongAuthInput,
): Partial<Client> => {
  const method = m.token_endpoint_auth_method;
  const fapi = tenant.settings.fapi || m.fapi === true;
  if (!(TOKEN_ENDPOINT_AUTH_METHODS as readonly string[]).includes(method)) {
    throw new InvalidClientMetadata(
      `token_endpoint_auth_method must be one of ${TOKEN_ENDPOINT_AUTH_METHODS.join(', ')}`,
    );
  }
  if (m.subject_type !== undefined && m.subject_type !== 'public') {
    // CIBA §4 pairwise clients need a sector identifier from jwks_uri and proof of owning it; not implemented.
    throw new InvalidClientMetadata('subject_type must be public: pairwise subject identifiers are not supported');
  }
  if (m.jwks !== undefined && m.jwks_uri !== undefined) {
    throw new InvalidClientMetadata('jwks and jwks_uri are mutually exclusive: register one of them');
  }
  if (m.jwks) checkJwks(m.jwks);
  if (m.jwks_uri !== undefined) {
    const problem = outbound.refusal(m.jwks_uri, {
      allowPrivateNetwork: tenant.settings.developmentMode,
      name: 'jwks_uri',
    });
    if (problem) throw new InvalidClientMetadata(problem);
  }
  const hasKeys = m.jwks !== undefined || m.jwks_uri !== undefined;
  if ((method === 'private_key_jwt' || method === 'self_signed_tls_client_auth') && !hasKeys) {
    throw new InvalidClientMetadata(`${method} needs the client's public keys: register jwks or jwks_uri`);
  }

  const tls = TLS_FIELDS.filter(([wire]) => m[wire] !== undefined);
  if (method === 'tls_client_auth') {
    if (tls.length !== 1) {
      throw new InvalidClientMetadata(
        'tls_client_auth needs exactly one of tls_client_auth_subject_dn, _san_dns, _san_uri, _san_ip, _san_email',
      );
    }
  } else if (tls.length > 0) {
    throw new InvalidClientMetadata('tls_client_auth_* fields are only for token_endpoint_auth_method tls_client_auth');
  }

  const algs = fapi ? FAPI_ALGS : ASYMMETRIC_ALGS;
  if (m.token_endpoint_auth_signing_alg !== undefined) {
    if (method === 'client_secret_jwt') {
      if (m.token_endpoint_auth_signing_alg !== CLIENT_SECRET_JWT_ALG) {
        throw new InvalidClientMetadata(`client_secret_jwt clients sign with ${CLIENT_SECRET_JWT_ALG}`);
      }
    } else if (method !== 'private_key_jwt') {
      throw new InvalidClientMetadata(
        'token_endpoint_auth_signing_alg is only for private_key_jwt and client_secret_jwt clients',
      );
    } else if (!algs.includes(m.token_endpoint_auth_signing_alg)) {
      throw new InvalidClientMetadata(`token_endpoint_auth_signing_alg must be one of ${algs.join(', ')}`);
    }
  }
  const requestAlgs = fapi ? FAPI_ALGS : REQUEST_SIGNING_ALGS;
  const requestAlg = m.backchannel_authentication_request_signing_alg;
  if (requestAlg !== undefined) {
    // CIBA §4, §7.1.1: an asymmetric algorithm this issuer supports, verified with the client's registered keys.
    if (!requestAlgs.includes(requestAlg)) {
      throw new InvalidClientMetadata(
        `backchannel_authentication_request_signing_alg must be one of ${requestAlgs.join(', ')}`,
      );
    }
    if (!hasKeys) {
      throw new InvalidClientMetadata('backchannel_authentication_request_signing_alg needs jwks or jwks_uri');
    }
  }

  if (fapi) {
    if (!FAPI_AUTH_METHODS.includes(method as Client['tokenEndpointAuthMethod'])) {
      throw new InvalidClientMetadata(`FAPI-CIBA clients authenticate with ${FAPI_AUTH_METHODS.join(', ')}`);
    }
    const mode = m.backchannel_token_delivery_mode;
    if (mode !== undefined && !FAPI_DELIVERY_MODES.includes(mode as DeliveryMode)) {
      throw new InvalidClientMetadata('FAPI-CIBA clients use poll or ping');
    }
    if (requestAlg === undefined) {
      throw new InvalidClientMetadata(
        'FAPI-CIBA clients sign their requests: register backchannel_authentication_request_signing_alg (PS256 or ES256)',
      );
    }
  }

  const types = tenant.settings.authorizationDetailsTypes ?? {};
  const unknownTypes = (m.authorization_details_types ?? []).filter((t) => !Object.hasOwn(types, t));
  if (unknownTypes.length > 0) {
    throw new InvalidClientMetadata(
      `authorization_details_types not registered for this tenant: ${unknownTypes.join(' ')}`,
    );
  }

  const tlsClientAuth: TlsClientAuthMatch = {};
  for (const [wire, field] of tls) tlsClientAuth[field] = m[wire]!;
  return {
    ...(m.jwks ? { jwks: m.jwks as { keys: JsonWebKeyPublic[] } } : {}),
    ...(m.jwks_uri !== undefined ? { jwksUri: m.jwks_uri } : {}),
    ...(m.token_endpoint_auth_signing_alg !== undefined
      ? { tokenEndpointAuthSigningAlg: m.token_endpoint_auth_signing_alg }
      : {}),
    ...(tls.length > 0 ? { tlsClientAuth } : {}),
    ...(requestAlg !== undefined ? { backchannelAuthenticationRequestSigningAlg: requestAlg } : {}),
    ...(m.authorization_details_types
      ? { authorizationDetailsTypes: [...new Set(m.authorization_details_types)] }
      : {}),
    ...(m.fapi ? { fapi: true } : {}),
  };
};

/** Whether the client authenticates with a secret the service issues (and so gets one at registration). */
export const usesClientSecret = (client: Pick<Client, 'tokenEndpointAuthMethod'>): boolean =>
  client.tokenEndpointAuthMethod === 'client_secret_basic' ||
  client.tokenEndpointAuthMethod === 'client_secret_post' ||
  client.tokenEndpointAuthMethod === 'client_secret_jwt';

export const strongAuthToWire = (client: Client) => {
  const tls = client.tlsClientAuth ?? {};
  return {
    ...(client.jwks ? { jwks: client.jwks } : {}),
    ...(client.jwksUri !== undefined ? { jwks_uri: client.jwksUri } : {}),
    ...(client.tokenEndpointAuthSigningAlg
      ? { token_endpoint_auth_signing_alg: client.tokenEndpointAuthSigningAlg }
      : {}),
    ...Object.fromEntries(TLS_FIELDS.filter(([, f]) => tls[f] !== undefined).map(([wire, f]) => [wire, tls[f]])),
    ...(client.backchannelAuthenticationRequestSigningAlg
      ? { backchannel_authentication_request_signing_alg: client.backchannelAuthenticationRequestSigningAlg }
      : {}),
    ...(client.authorizationDetailsTypes ? { authorization_details_types: client.authorizationDetailsTypes } : {}),
    ...(MTLS_AUTH_METHODS.includes(client.tokenEndpointAuthMethod) || client.fapi || false
      ? { tls_client_certificate_bound_access_tokens: true }
      : {}),
    ...(client.fapi ? { fapi: true } : {}),
  };
};
