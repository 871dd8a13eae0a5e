import { decodeJwt } from 'jose';
import { matchesHash } from '../crypto.ts';
import { InvalidClient, InvalidRequest } from '../errors.ts';
import type { Client, ClientAuthMethod, Tenant } from '../model.ts';
import type { Deps, RuntimeConfig } from '../ports.ts';
import { AssertionRejected, CLIENT_ASSERTION_TYPE, verifyClientAssertion } from './client-assertion.ts';
import { privateNetworkAllowed } from './client-keys.ts';
import { FAPI_AUTH_METHODS, isFapi } from './fapi.ts';
import {
  certificateKeyRegistered,
  issuedByTrustedCa,
  mtlsBaseUrl,
  type PresentedCertificate,
  tlsClientAuthMatches,
} from './mtls.ts';

/** Every method a client may register (client_secret_jwt: a derived secret, lib/oauth/client-secret-jwt.ts). */
export const TOKEN_ENDPOINT_AUTH_METHODS: readonly ClientAuthMethod[] = [
  'client_secret_basic',
  'client_secret_post',
  'client_secret_jwt',
  'private_key_jwt',
  'tls_client_auth',
  'self_signed_tls_client_auth',
];

/** The methods this tenant offers: mTLS ones only where clients can present a certificate; FAPI narrows them. */
export const supportedAuthMethods = (tenant: Tenant, config: Pick<RuntimeConfig, 'mtls'>): ClientAuthMethod[] =>
  TOKEN_ENDPOINT_AUTH_METHODS.filter(
    (m) =>
      (mtlsBaseUrl(tenant, config) !== undefined || !m.includes('tls')) &&
      (!tenant.settings.fapi || FAPI_AUTH_METHODS.includes(m)),
  );

/** RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64. */
const formDecode = (value: string): string => decodeURIComponent(value.replace(/\+/g, ' '));

const parseBasic = (authorization: string): { clientId: string; secret: string } => {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
  if (!match) throw new InvalidClient('malformed Basic authorization header', true);
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new InvalidClient('malformed Basic authorization header', true);
  try {
    return { clientId: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    throw new InvalidClient('malformed Basic authorization header', true);
  }
};

/** The client an assertion names (unverified: only to find the keys or secret that verify it). */
const assertionClientId = (assertion: string): string | undefined => {
  try {
    const { iss, sub } = decodeJwt(assertion);
    return typeof sub === 'string' ? sub : typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
};

export interface ClientAuthenticationInput {
  tenant: Tenant;
  issuer: string;
  authorization: string | undefined;
  form: Record<string, string>;
  /** The TLS client certificate of the connection (lib/http/client-certificate.ts), if any. */
  certificate: PresentedCertificate | undefined;
}

/** The methods that present the issued secret itself; RFC 6749 §2.3.1 lets a client send it either way. */
const SECRET_METHODS: readonly ClientAuthMethod[] = ['client_secret_basic', 'client_secret_post'];

/**
 * Authenticates the client of a token, backchannel, revocation or introspection request: exactly one method
 * (RFC 6749 §2.3), the one the client registered (CIBA §7.1), never none (every CIBA request reaches a person's
 * phone). A client registered for a secret method may present its secret by Basic or in the body (RFC 6749
 * §2.3.1: servers MUST support Basic and MAY support the body; openid-client sends client_secret_post by default,
 * most other clients Basic); every other method is exact. Every failure is 401 invalid_client, with the same
 * description for an unknown client and wrong credentials; a request with the wrong kind of credentials is told the
 * method the client is registered for (client ids and their methods are not secrets: RFC 7591 metadata). Each
 * failure is logged with the methods, never a credential. WWW-Authenticate: Basic when the client tried the
 * Authorization header.
 */
export const authenticateClient = async (
  deps: Pick<Deps, 'clients' | 'replay' | 'clock' | 'config' | 'keys' | 'outbound'> & Partial<Pick<Deps, 'logger'>>,
  input: ClientAuthenticationInput,
): Promise<Client> => {
  const { tenant, form, authorization } = input;
  const usedBasic = authorization !== undefined && /^Basic\s/i.test(authorization);
  const usedAssertion = form.client_assertion !== undefined || form.client_assertion_type !== undefined;
  const methods = [usedBasic, form.client_secret !== undefined, usedAssertion].filter(Boolean);
  if (methods.length > 1) throw new InvalidRequest('the client used more than one authentication method');
  /** The 401 for a failure after the client was named, logged with what was tried and what is registered. */
  const refuse = (reason: string, description = 'client authentication failed') => {
    deps.logger?.warn('client authentication failed', {
      tenant: tenant.tenantId,
      client_id: clientId,
      reason,
      used_method: method,
      ...(registered !== undefined ? { registered_method: registered } : {}),
    });
    return new InvalidClient(description, usedBasic);
  };
  let registered: ClientAuthMethod | undefined;

  let method: ClientAuthMethod;
  let clientId: string | undefined;
  let secret: string | undefined;
  if (usedBasic) {
    ({ clientId, secret } = parseBasic(authorization));
    if (form.client_id !== undefined && form.client_id !== clientId) {
      throw new InvalidRequest('client_id does not match the authenticated client');
    }
    method = 'client_secret_basic';
  } else if (form.client_secret !== undefined) {
    if (form.client_id === undefined) throw new InvalidClient('client_id is missing', false);
    clientId = form.client_id;
    secret = form.client_secret;
    method = 'client_secret_post';
  } else if (usedAssertion) {
    // RFC 7521 §4.2: both parameters, the type being the JWT bearer assertion type.
    if (form.client_assertion_type !== CLIENT_ASSERTION_TYPE || form.client_assertion === undefined) {
      throw new InvalidClient(`client_assertion_type must be ${CLIENT_ASSERTION_TYPE}, with a client_assertion`, false);
    }
    clientId = assertionClientId(form.client_assertion);
    if (clientId === undefined) throw new InvalidClient('the client assertion is malformed', false);
    if (form.client_id !== undefined && form.client_id !== clientId) {
      throw new InvalidClient('client_id does not match the client assertion', false);
    }
    // private_key_jwt or client_secret_jwt: the client's registration says which.
    method = 'private_key_jwt';
  } else {
    // No credential in the request: only the TLS certificate can authenticate it (RFC 8705 §2).
    if (form.client_id === undefined) throw new InvalidClient('client authentication is required', false);
    clientId = form.client_id;
    method = 'tls_client_auth';
  }

  const client = await deps.clients.get(tenant.tenantId, clientId);
  if (!client) throw refuse('unknown client');
  registered = client.tokenEndpointAuthMethod;
  // A tenant switched to FAPI keeps its older clients registered, but only FAPI methods authenticate.
  if (isFapi(tenant, client) && !FAPI_AUTH_METHODS.includes(registered))
    throw refuse(
      'FAPI allows only private_key_jwt and mutual TLS',
      `client authentication failed: under FAPI-CIBA only ${FAPI_AUTH_METHODS.join(', ')} authenticate`,
    );
  /** Credentials of another kind than the registration: say which kind it wants. */
  const wrongKind = () =>
    refuse(
      'another method than the registered one',
      `client authentication failed: this client is registered for ${registered} (token_endpoint_auth_method)`,
    );

  switch (method) {
    case 'client_secret_basic':
    case 'client_secret_post':
      if (!SECRET_METHODS.includes(registered)) throw wrongKind();
      if (!matchesHash(secret!, client.secretHash)) throw refuse('wrong secret');
      return client;
    case 'private_key_jwt':
      if (registered !== 'private_key_jwt' && registered !== 'client_secret_jwt') throw wrongKind();
      try {
        await verifyClientAssertion(deps, { tenant, client, assertion: form.client_assertion!, issuer: input.issuer });
      } catch (error) {
        if (error instanceof AssertionRejected)
          throw refuse(error.message, `client assertion rejected: ${error.message}`);
        throw error;
      }
      return client;
    default: {
      const cert = input.certificate;
      if (registered !== 'tls_client_auth' && registered !== 'self_signed_tls_client_auth') throw wrongKind();
      if (!cert) throw refuse('no certificate', 'this client authenticates with a TLS client certificate');
      const ok =
        registered === 'tls_client_auth'
          ? client.tlsClientAuth !== undefined &&
            tlsClientAuthMatches(client.tlsClientAuth, cert.x509) &&
            issuedByTrustedCa(cert.x509, deps.config, deps.clock.now())
          : await certificateKeyRegistered(client, cert.x509, {
              allowPrivateNetwork: privateNetworkAllowed(deps.config, tenant),
              outbound: deps.outbound,
            });
      if (!ok)
        throw refuse('certificate does not match', 'the TLS client certificate does not authenticate this client');
      return client;
    }
  }
};
