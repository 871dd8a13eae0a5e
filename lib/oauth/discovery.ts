import { CIBA_GRANT_TYPE, REFRESH_TOKEN_GRANT_TYPE, type Tenant } from '../model.ts';
import type { RuntimeConfig } from '../ports.ts';
import { authorizationDetailsTypesSupported } from './authorization-details.ts';
import { supportedAuthMethods } from './client-authentication.ts';
import { ASYMMETRIC_ALGS, FAPI_ALGS, REQUEST_SIGNING_ALGS } from './client-keys.ts';
import { CLIENT_SECRET_JWT_ALG } from './client-secret-jwt.ts';
import { mtlsBaseUrl } from './mtls.ts';
import { CLAIMS_SUPPORTED, SUPPORTED_SCOPES } from './scopes.ts';
import { acrValuesSupported } from './tokens.ts';

/**
 * OIDC Discovery §3 + CIBA §4 metadata, reflecting the tenant's configuration. id_token_signing_alg_values_supported
 * is always present (openid-client assumes RS256 without it); only the tenant's delivery modes are listed; the
 * mTLS methods, certificate-bound tokens and RFC 8705 §5 endpoint aliases appear when the tenant has an mTLS host.
 */
export const discoveryDocument = (tenant: Tenant, issuer: string, config?: RuntimeConfig) => {
  const fapi = tenant.settings.fapi;
  const mtls = config ? mtlsBaseUrl(tenant, config) : tenant.settings.mtlsBaseUrl;
  const methods = supportedAuthMethods(tenant, config ?? {});
  // HS256 only for client_secret_jwt, which FAPI forbids.
  const assertionAlgs = fapi ? FAPI_ALGS : [...ASYMMETRIC_ALGS, CLIENT_SECRET_JWT_ALG];
  const endpoints = {
    token_endpoint: '/oauth/token',
    backchannel_authentication_endpoint: '/bc-authorize',
    userinfo_endpoint: '/userinfo',
    revocation_endpoint: '/oauth/revoke',
    introspection_endpoint: '/oauth/introspect',
  };
  const at = (base: string) =>
    Object.fromEntries(Object.entries(endpoints).map(([name, path]) => [name, `${base}${path}`])) as Record<
      keyof typeof endpoints,
      string
    >;
  const mtlsIssuer = mtls ? `${mtls}/${tenant.tenantId}` : undefined;
  const types = authorizationDetailsTypesSupported(tenant);
  return {
    issuer,
    ...at(issuer),
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    backchannel_token_delivery_modes_supported: tenant.settings.deliveryModes,
    backchannel_user_code_parameter_supported: true,
    backchannel_authentication_request_signing_alg_values_supported: fapi ? FAPI_ALGS : REQUEST_SIGNING_ALGS,
    grant_types_supported: [CIBA_GRANT_TYPE, REFRESH_TOKEN_GRANT_TYPE],
    // No authorization endpoint: this issuer serves CIBA only.
    response_types_supported: [] as string[],
    token_endpoint_auth_methods_supported: methods,
    token_endpoint_auth_signing_alg_values_supported: assertionAlgs,
    revocation_endpoint_auth_methods_supported: methods,
    introspection_endpoint_auth_methods_supported: methods,
    id_token_signing_alg_values_supported: [tenant.settings.signingAlg],
    subject_types_supported: ['public'],
    scopes_supported: SUPPORTED_SCOPES,
    claims_supported: CLAIMS_SUPPORTED,
    acr_values_supported: acrValuesSupported(tenant.settings.channels ?? []),
    claims_parameter_supported: false,
    request_parameter_supported: false,
    request_uri_parameter_supported: false,
    ...(types.length > 0 ? { authorization_details_types_supported: types } : {}),
    ...(mtls || fapi ? { tls_client_certificate_bound_access_tokens: true } : {}),
    ...(mtlsIssuer && mtlsIssuer !== issuer ? { mtls_endpoint_aliases: at(mtlsIssuer) } : {}),
  };
};
