import * as z from 'zod';
import { randomToken, sha256 } from '../crypto.ts';
import { displayString } from '../display-string.ts';
import { Conflict, InvalidClientMetadata, NotFound } from '../errors.ts';
import { CIBA_GRANT_TYPE, type Client, REFRESH_TOKEN_GRANT_TYPE, type Tenant } from '../model.ts';
import { newClientSecret } from '../oauth/client-secret-jwt.ts';
import { newGeneration } from '../oauth/grant-binding.ts';
import { SUPPORTED_SCOPES, splitScope } from '../oauth/scopes.ts';
import type { Deps, OutboundHttp } from '../ports.ts';
import { parseWith } from '../validation.ts';
import {
  StrongAuthMetadataShape,
  strongAuthToWire,
  usesClientSecret,
  validateStrongAuthMetadata,
} from './client-metadata.ts';

/** RFC 7591 §2 client metadata, as far as a CIBA client uses it (CIBA Core §4). Unknown members are refused. */
export const ClientRegistration = z.strictObject({
  client_id: z
    .string()
    .regex(/^[A-Za-z0-9._~-]{3,64}$/, 'client_id: 3-64 characters of A-Z a-z 0-9 . _ ~ -')
    .optional(),
  // Hardening rule 5: the device shows it.
  client_name: displayString(100).optional(),
  grant_types: z.array(z.string()).default([CIBA_GRANT_TYPE]),
  response_types: z
    .array(z.string())
    .max(0, 'response_types must be empty: this service has no authorization endpoint')
    .optional(),
  token_endpoint_auth_method: z.string().default('client_secret_basic'),
  scope: z.string().max(1000).optional(),
  backchannel_token_delivery_mode: z.string().optional(),
  backchannel_client_notification_endpoint: z.string().max(2048).optional(),
  backchannel_user_code_parameter: z.boolean().default(false),
  ...StrongAuthMetadataShape,
});

/** Validates metadata against CIBA §4 and the tenant; every failure is 400 invalid_client_metadata. */
const validate = (
  outbound: Pick<OutboundHttp, 'refusal'>,
  tenant: Tenant,
  m: z.infer<typeof ClientRegistration>,
): Partial<Client> => {
  if (!m.grant_types.includes(CIBA_GRANT_TYPE))
    throw new InvalidClientMetadata(`grant_types must include ${CIBA_GRANT_TYPE}`);
  const unsupported = m.grant_types.filter((g) => g !== CIBA_GRANT_TYPE && g !== REFRESH_TOKEN_GRANT_TYPE);
  if (unsupported.length > 0) throw new InvalidClientMetadata(`unsupported grant_types: ${unsupported.join(' ')}`);
  if (m.token_endpoint_auth_method === 'none') {
    throw new InvalidClientMetadata('public clients are not allowed: token_endpoint_auth_method none is refused');
  }
  const mode = m.backchannel_token_delivery_mode;
  if (mode === undefined)
    throw new InvalidClientMetadata('backchannel_token_delivery_mode is required with the CIBA grant');
  if (!['poll', 'ping', 'push'].includes(mode))
    throw new InvalidClientMetadata('backchannel_token_delivery_mode must be poll, ping or push');
  if (!tenant.settings.deliveryModes.includes(mode as 'poll')) {
    throw new InvalidClientMetadata(`delivery mode ${mode} is not enabled for this tenant`);
  }
  // FAPI-CIBA §5.2.2-3: no push mode under the FAPI profile.
  if (mode === 'push' && tenant.settings.fapi)
    throw new InvalidClientMetadata('push mode is not allowed for FAPI tenants');
  const endpoint = m.backchannel_client_notification_endpoint;
  if (mode === 'poll') {
    if (endpoint !== undefined) {
      throw new InvalidClientMetadata('backchannel_client_notification_endpoint is only for ping and push clients');
    }
  } else {
    // CIBA §4: REQUIRED for ping and push, an https URL.
    if (endpoint === undefined) {
      throw new InvalidClientMetadata(`backchannel_client_notification_endpoint is required for ${mode} clients`);
    }
    const problem = outbound.refusal(endpoint, {
      allowPrivateNetwork: tenant.settings.developmentMode,
      name: 'backchannel_client_notification_endpoint',
    });
    if (problem) throw new InvalidClientMetadata(problem);
  }
  if (m.scope !== undefined) {
    const unknown = splitScope(m.scope).filter((s) => !SUPPORTED_SCOPES.includes(s));
    if (unknown.length > 0) throw new InvalidClientMetadata(`unsupported scope values: ${unknown.join(' ')}`);
  }
  return validateStrongAuthMetadata(outbound, tenant, m);
};

export const clientToWire = (client: Client) => ({
  client_id: client.clientId,
  client_id_issued_at: Math.floor(client.createdAt / 1000),
  client_name: client.clientName,
  grant_types: client.grantTypes,
  token_endpoint_auth_method: client.tokenEndpointAuthMethod,
  ...(client.scope !== undefined ? { scope: client.scope } : {}),
  backchannel_token_delivery_mode: client.backchannelTokenDeliveryMode,
  ...(client.backchannelClientNotificationEndpoint !== undefined
    ? { backchannel_client_notification_endpoint: client.backchannelClientNotificationEndpoint }
    : {}),
  backchannel_user_code_parameter: client.backchannelUserCodeParameter,
  ...strongAuthToWire(client),
});

/** RFC 7591 §3.2.1: 201 with the metadata, the client_id and the secret, which is shown this once. */
export type RegisteredClient = ReturnType<typeof clientToWire> & {
  client_secret?: string;
  client_secret_expires_at?: number;
};

export const registerClient = async (
  deps: Pick<Deps, 'clients' | 'clock' | 'keys' | 'outbound'>,
  tenant: Tenant,
  body: unknown,
): Promise<RegisteredClient> => {
  const m = parseWith(ClientRegistration, body, InvalidClientMetadata);
  const strongAuth = validate(deps.outbound, tenant, m);
  const secretJwt = m.token_endpoint_auth_method === 'client_secret_jwt';
  const clientId = m.client_id ?? randomToken(16);
  // Derived before the write, so a KMS failure leaves no client behind whose secret nobody was told.
  const derived = secretJwt ? await newClientSecret(deps.keys, tenant.tenantId, clientId) : undefined;
  const secret = derived?.secret ?? randomToken(32);
  const client: Client = {
    tenantId: tenant.tenantId,
    clientId,
    // Hardening rule 7: a client registered again under a deleted one's id honours none of its grants.
    generation: newGeneration(),
    clientName: m.client_name ?? '',
    // client_secret_jwt: the hash is of a secret never disclosed; the real one is derived from the salt.
    secretHash: sha256(derived ? randomToken(32) : secret),
    tokenEndpointAuthMethod: m.token_endpoint_auth_method as Client['tokenEndpointAuthMethod'],
    grantTypes: [...new Set(m.grant_types)],
    backchannelTokenDeliveryMode: m.backchannel_token_delivery_mode as Client['backchannelTokenDeliveryMode'],
    backchannelUserCodeParameter: m.backchannel_user_code_parameter,
    createdAt: deps.clock.now(),
    ...(derived ? { secretSalt: derived.salt } : {}),
    ...strongAuth,
    ...(m.scope !== undefined ? { scope: splitScope(m.scope).join(' ') } : {}),
    ...(m.backchannel_client_notification_endpoint !== undefined
      ? { backchannelClientNotificationEndpoint: m.backchannel_client_notification_endpoint }
      : {}),
  };
  if ((await deps.clients.create(client)) !== 'ok') throw new Conflict(`client ${client.clientId} already exists`);
  // Key- and certificate-based clients get no secret (RFC 7591 §3.2.1: client_secret only when one is issued).
  if (!usesClientSecret(client)) return clientToWire(client);
  return { ...clientToWire(client), client_secret: secret, client_secret_expires_at: 0 };
};

export const getClientOrThrow = async (deps: Pick<Deps, 'clients'>, tenantId: string, clientId: string) => {
  const client = await deps.clients.get(tenantId, clientId);
  if (!client) throw new NotFound('unknown client');
  return client;
};

/** Hardening rule 7: what the client was issued dies with its registration (grants carry its generation). */
export const deleteClient = async (deps: Pick<Deps, 'clients'>, tenantId: string, clientId: string): Promise<void> => {
  if (!(await deps.clients.delete(tenantId, clientId))) throw new NotFound('unknown client');
};
