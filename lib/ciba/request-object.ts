import { InvalidRequest } from '../errors.ts';
import type { Client, Tenant } from '../model.ts';
import {
  AssertionRejected,
  acceptedAudiences,
  CLOCK_SKEW_SECONDS,
  jtiNamespace,
  verifyClientJwt,
} from '../oauth/client-assertion.ts';
import { FAPI_MAX_REQUEST_LIFETIME_SECONDS, isFapi } from '../oauth/fapi.ts';
import type { Deps } from '../ports.ts';

/** Client authentication travels outside the request object (CIBA §7.1.1); nothing else may. */
const CLIENT_AUTH_PARAMS = new Set(['client_id', 'client_secret', 'client_assertion', 'client_assertion_type']);
/** CIBA §7.1 parameters that are strings, inside a request object as on the form. */
const STRING_PARAMS = [
  'scope',
  'login_hint',
  'login_hint_token',
  'id_token_hint',
  'binding_message',
  'user_code',
  'acr_values',
  'client_notification_token',
] as const;

/**
 * CIBA §7.1.1: a signed authentication request. The JWT carries every authentication request parameter and the
 * claims `iss` (the client), `aud` (this issuer, or its token or backchannel endpoint), `iat`, `nbf`, `exp` and
 * `jti`, all required; `jti` is used once. The `alg` must be the client's registered
 * `backchannel_authentication_request_signing_alg` (asymmetric; `none`, HS* and encrypted requests are refused).
 * Every failure is 400 invalid_request (CIBA §13 has no invalid_request_object). Returns the parameters as a form.
 */
const unpackRequestObject = async (
  deps: Pick<Deps, 'replay' | 'clock' | 'config' | 'outbound'>,
  input: { tenant: Tenant; client: Client; issuer: string; jwt: string },
): Promise<Record<string, string>> => {
  const { tenant, client } = input;
  const fapi = isFapi(tenant, client);
  if (!client.backchannelAuthenticationRequestSigningAlg) {
    throw new InvalidRequest(
      'this client registered no backchannel_authentication_request_signing_alg: it cannot send a request object',
    );
  }
  let claims: Record<string, unknown> & { exp: number };
  try {
    claims = await verifyClientJwt(deps, {
      tenant,
      client,
      jwt: input.jwt,
      registeredAlg: client.backchannelAuthenticationRequestSigningAlg,
      audiences: acceptedAudiences(tenant, input.issuer, deps.config),
      required: ['iat', 'nbf', 'jti'],
      maxLifetimeSeconds: FAPI_MAX_REQUEST_LIFETIME_SECONDS,
    });
  } catch (error) {
    if (error instanceof AssertionRejected) throw new InvalidRequest(`request object rejected: ${error.message}`);
    throw error;
  }
  const nbf = claims.nbf as number;
  if (fapi) {
    // FAPI-CIBA §5.2.2-9: nbf no longer than 60 minutes in the past, exp no more than 60 minutes after nbf.
    if (claims.exp - nbf > FAPI_MAX_REQUEST_LIFETIME_SECONDS) {
      throw new InvalidRequest('request object rejected: exp must be at most 60 minutes after nbf');
    }
    if (Math.floor(deps.clock.now() / 1000) - nbf > FAPI_MAX_REQUEST_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS) {
      throw new InvalidRequest('request object rejected: nbf is more than 60 minutes in the past');
    }
  }
  if (claims.client_id !== undefined && claims.client_id !== client.clientId) {
    throw new InvalidRequest('request object rejected: client_id does not match the client');
  }
  const params: Record<string, string> = {};
  for (const name of STRING_PARAMS) {
    const value = claims[name];
    if (value === undefined) continue;
    if (typeof value !== 'string') throw new InvalidRequest(`request object rejected: ${name} must be a string`);
    params[name] = value;
  }
  // CIBA §7.1.1: requested_expiry may be a JSON number or a string.
  const expiry = claims.requested_expiry;
  if (expiry !== undefined) {
    if (typeof expiry !== 'string' && typeof expiry !== 'number') {
      throw new InvalidRequest('request object rejected: requested_expiry must be a number or a string');
    }
    params.requested_expiry = String(expiry);
  }
  // RFC 9396 §3: inside a JWT, authorization_details is a JSON array.
  const details = claims.authorization_details;
  if (details !== undefined)
    params.authorization_details = typeof details === 'string' ? details : JSON.stringify(details);
  for (const name of ['request', 'request_uri', 'registration']) {
    if (claims[name] !== undefined)
      throw new InvalidRequest(`request object rejected: ${name} is not allowed inside it`);
  }

  const fresh = await deps.replay.useOnce(
    `${jtiNamespace('request', tenant.tenantId, client.clientId)}#${claims.jti as string}`,
    (claims.exp + CLOCK_SKEW_SECONDS) * 1000,
  );
  if (!fresh) throw new InvalidRequest('request object rejected: its jti was already used');
  return params;
};

/**
 * The authentication request parameters of a bc-authorize call: from the signed request object when there is one
 * (and then none outside it but client authentication), else from the form. Under FAPI-CIBA the request must be
 * signed and carry a binding_message unless authorization_details make it unique (FAPI-CIBA §5.2.2-2, -6).
 */
export const prepareBackchannelRequest = async (
  deps: Pick<Deps, 'replay' | 'clock' | 'config' | 'outbound'>,
  input: { tenant: Tenant; client: Client; issuer: string; form: Record<string, string> },
): Promise<Record<string, string>> => {
  const { tenant, client, form } = input;
  const fapi = isFapi(tenant, client);
  let params = form;
  if (form.request !== undefined) {
    const outside = Object.keys(form).filter((k) => k !== 'request' && !CLIENT_AUTH_PARAMS.has(k));
    if (outside.length > 0) {
      throw new InvalidRequest(`with a request object, parameters must be inside it: ${outside.join(', ')}`);
    }
    params = await unpackRequestObject(deps, { tenant, client, issuer: input.issuer, jwt: form.request });
  } else if (fapi) {
    throw new InvalidRequest('FAPI-CIBA: the authentication request must be signed (send a request object)');
  }
  if (fapi && params.binding_message === undefined && params.authorization_details === undefined) {
    throw new InvalidRequest('FAPI-CIBA: binding_message is required unless authorization_details are sent');
  }
  return params;
};
