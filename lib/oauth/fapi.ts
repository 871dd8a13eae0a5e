import { InvalidRequest } from '../errors.ts';
import type { Client, ClientAuthMethod, DeliveryMode, Tenant } from '../model.ts';
import { FAPI_ALGS } from './client-keys.ts';
import type { PresentedCertificate } from './mtls.ts';

/**
 * The FAPI-CIBA profile (FAPI-CIBA ID1 §5.2.2 on FAPI 1.0 Advanced), on a whole tenant (`fapi: true`) or on one
 * client. What it changes, and where:
 * - confidential clients with private_key_jwt or mTLS only; poll and ping only (registration, client auth);
 * - PS256 or ES256 for ID tokens, request objects and client assertions (tenant settings, registration, checks);
 * - every backchannel request signed, with `exp - nbf` at most 60 minutes (lib/ciba/request-object.ts);
 * - binding_message required unless authorization_details give the request a unique context;
 * - access tokens bound to the client's TLS certificate (RFC 8705), so the token endpoint needs one.
 */
export const isFapi = (tenant: Tenant, client?: Client): boolean => tenant.settings.fapi || client?.fapi === true;

export const FAPI_AUTH_METHODS: readonly ClientAuthMethod[] = [
  'private_key_jwt',
  'tls_client_auth',
  'self_signed_tls_client_auth',
];
export const FAPI_DELIVERY_MODES: readonly DeliveryMode[] = ['poll', 'ping'];
export { FAPI_ALGS };

/** FAPI-CIBA §5.2.2-9 (FAPI 1.0 Advanced §5.2.2-13): a signed request lives at most 60 minutes. */
export const FAPI_MAX_REQUEST_LIFETIME_SECONDS = 3600;

export const MTLS_AUTH_METHODS: readonly ClientAuthMethod[] = ['tls_client_auth', 'self_signed_tls_client_auth'];

/** RFC 8705 §3: access tokens of mTLS clients, and of every FAPI client, are bound to the client certificate. */
export const bindsTokensToCertificate = (tenant: Tenant, client: Client): boolean =>
  isFapi(tenant, client) || MTLS_AUTH_METHODS.includes(client.tokenEndpointAuthMethod);

/**
 * The thumbprint to bind this client's access tokens to, or undefined when they are plain bearer tokens. A FAPI
 * client authenticating with private_key_jwt must still come over mutual TLS to get a token (FAPI 1.0 Advanced
 * §5.2.2-5: sender-constrained tokens).
 */
export const certificateBinding = (
  tenant: Tenant,
  client: Client,
  certificate: PresentedCertificate | undefined,
): string | undefined => {
  if (!bindsTokensToCertificate(tenant, client)) return undefined;
  if (!certificate) {
    throw new InvalidRequest(
      'access tokens for this client are certificate-bound: present a TLS client certificate (mutual TLS)',
    );
  }
  return certificate.thumbprint;
};
