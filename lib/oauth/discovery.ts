import { CIBA_GRANT_TYPE, type Tenant } from '../model.ts';
import { TOKEN_ENDPOINT_AUTH_METHODS } from './client-authentication.ts';
import { CLAIMS_SUPPORTED, SUPPORTED_SCOPES } from './scopes.ts';
import { ACR_VALUES_SUPPORTED } from './tokens.ts';

/**
 * OIDC Discovery §3 + CIBA §4 metadata. id_token_signing_alg_values_supported is always present
 * (openid-client assumes RS256 without it); only the tenant's delivery modes are listed.
 */
export const discoveryDocument = (tenant: Tenant, issuer: string) => ({
  issuer,
  token_endpoint: `${issuer}/oauth/token`,
  jwks_uri: `${issuer}/.well-known/jwks.json`,
  userinfo_endpoint: `${issuer}/userinfo`,
  backchannel_authentication_endpoint: `${issuer}/bc-authorize`,
  backchannel_token_delivery_modes_supported: tenant.settings.deliveryModes,
  backchannel_user_code_parameter_supported: true,
  grant_types_supported: [CIBA_GRANT_TYPE],
  // No authorization endpoint: this issuer serves CIBA only.
  response_types_supported: [] as string[],
  token_endpoint_auth_methods_supported: [...TOKEN_ENDPOINT_AUTH_METHODS],
  id_token_signing_alg_values_supported: [tenant.settings.signingAlg],
  subject_types_supported: ['public'],
  scopes_supported: SUPPORTED_SCOPES,
  claims_supported: CLAIMS_SUPPORTED,
  acr_values_supported: ACR_VALUES_SUPPORTED,
  claims_parameter_supported: false,
  request_parameter_supported: false,
  request_uri_parameter_supported: false,
});
