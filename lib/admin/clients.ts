import { z } from 'zod';
import { randomToken, sha256 } from '../crypto.ts';
import { parseWith } from '../http/validation.ts';
import { CIBA_GRANT_TYPE, type Client, type Tenant } from '../model.ts';
import { Conflict, InvalidClientMetadata, NotFound } from '../oauth/errors.ts';
import { SUPPORTED_SCOPES, splitScope } from '../oauth/scopes.ts';
import type { Deps } from '../ports.ts';

/** RFC 7591 §2 client metadata, as far as a CIBA client uses it (CIBA Core §4). Unknown members are refused. */
export const ClientRegistration = z.strictObject({
  client_id: z
    .string()
    .regex(/^[A-Za-z0-9._~-]{3,64}$/, 'client_id: 3-64 characters of A-Z a-z 0-9 . _ ~ -')
    .optional(),
  client_name: z.string().trim().min(1).max(100).optional(),
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
});

const AUTH_METHODS = ['client_secret_basic', 'client_secret_post'];

/** Validates metadata against CIBA §4 and the tenant; every failure is 400 invalid_client_metadata. */
const validate = (tenant: Tenant, m: z.infer<typeof ClientRegistration>) => {
  if (!m.grant_types.includes(CIBA_GRANT_TYPE))
    throw InvalidClientMetadata(`grant_types must include ${CIBA_GRANT_TYPE}`);
  const unsupported = m.grant_types.filter((g) => g !== CIBA_GRANT_TYPE);
  if (unsupported.length > 0) throw InvalidClientMetadata(`unsupported grant_types: ${unsupported.join(' ')}`);
  if (m.token_endpoint_auth_method === 'none') {
    throw InvalidClientMetadata('public clients are not allowed: token_endpoint_auth_method none is refused');
  }
  if (!AUTH_METHODS.includes(m.token_endpoint_auth_method)) {
    throw InvalidClientMetadata(`token_endpoint_auth_method must be one of ${AUTH_METHODS.join(', ')}`);
  }
  const mode = m.backchannel_token_delivery_mode;
  if (mode === undefined)
    throw InvalidClientMetadata('backchannel_token_delivery_mode is required with the CIBA grant');
  if (!['poll', 'ping', 'push'].includes(mode))
    throw InvalidClientMetadata('backchannel_token_delivery_mode must be poll, ping or push');
  if (!tenant.settings.deliveryModes.includes(mode as 'poll')) {
    throw InvalidClientMetadata(`delivery mode ${mode} is not enabled for this tenant`);
  }
  if (mode !== 'poll') throw InvalidClientMetadata(`delivery mode ${mode} is not available yet; use poll`);
  if (m.backchannel_client_notification_endpoint !== undefined) {
    throw InvalidClientMetadata('backchannel_client_notification_endpoint is only for ping and push clients');
  }
  if (m.scope !== undefined) {
    const unknown = splitScope(m.scope).filter((s) => !SUPPORTED_SCOPES.includes(s));
    if (unknown.length > 0) throw InvalidClientMetadata(`unsupported scope values: ${unknown.join(' ')}`);
  }
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
});

/** RFC 7591 §3.2.1: 201 with the metadata, the client_id and the secret, which is shown this once. */
export const registerClient = async (deps: Pick<Deps, 'store' | 'clock'>, tenant: Tenant, body: unknown) => {
  const m = parseWith(ClientRegistration, body, InvalidClientMetadata);
  validate(tenant, m);
  const secret = randomToken(32);
  const client: Client = {
    tenantId: tenant.tenantId,
    clientId: m.client_id ?? randomToken(16),
    clientName: m.client_name ?? '',
    secretHash: sha256(secret),
    tokenEndpointAuthMethod: m.token_endpoint_auth_method as Client['tokenEndpointAuthMethod'],
    grantTypes: [...new Set(m.grant_types)],
    backchannelTokenDeliveryMode: m.backchannel_token_delivery_mode as Client['backchannelTokenDeliveryMode'],
    backchannelUserCodeParameter: m.backchannel_user_code_parameter,
    createdAt: deps.clock.now(),
    ...(m.scope !== undefined ? { scope: splitScope(m.scope).join(' ') } : {}),
  };
  if ((await deps.store.createClient(client)) !== 'ok') throw Conflict(`client ${client.clientId} already exists`);
  return { ...clientToWire(client), client_secret: secret, client_secret_expires_at: 0 };
};

export const getClientOrThrow = async (deps: Pick<Deps, 'store'>, tenantId: string, clientId: string) => {
  const client = await deps.store.getClient(tenantId, clientId);
  if (!client) throw NotFound('unknown client');
  return client;
};
