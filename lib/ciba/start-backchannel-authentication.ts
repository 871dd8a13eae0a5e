import { matchesHash, randomToken } from '../crypto.ts';
import {
  type AuthRequest,
  CIBA_GRANT_TYPE,
  type Client,
  REFRESH_TOKEN_GRANT_TYPE,
  type Tenant,
  type User,
} from '../model.ts';
import {
  AccessDenied,
  InvalidRequest,
  InvalidScope,
  InvalidUserCode,
  MissingUserCode,
  UnauthorizedClient,
  UnknownUserId,
} from '../oauth/errors.ts';
import { claimsForScope, SUPPORTED_SCOPES, splitScope } from '../oauth/scopes.ts';
import type { Deps } from '../ports.ts';
import { normalizeBindingMessage } from './binding-message.ts';
import { notifyDevices } from './notify-devices.ts';
import { resolveSubject } from './resolve-login-hint.ts';

export interface BackchannelAcknowledgement {
  auth_req_id: string;
  expires_in: number;
  interval?: number;
}

/** Parameters CIBA defines that this tenant does not accept (signed requests are not enabled). */
const UNSUPPORTED = ['request', 'request_uri', 'registration'] as const;

const parseRequestedExpiry = (raw: string | undefined): number | undefined => {
  if (raw === undefined) return undefined;
  if (!/^\d{1,10}$/.test(raw) || Number(raw) <= 0) {
    throw InvalidRequest('requested_expiry must be a positive integer number of seconds');
  }
  return Number(raw);
};

const validateScope = (raw: string | undefined, client: Client): string => {
  if (raw === undefined) throw InvalidRequest('scope is required');
  const scopes = [...new Set(splitScope(raw))];
  // CIBA §7.1: "CIBA authentication requests MUST therefore contain the openid scope value".
  if (!scopes.includes('openid')) throw InvalidRequest('scope must include openid');
  const allowed = client.scope ? splitScope(client.scope) : SUPPORTED_SCOPES;
  const unknown = scopes.filter((s) => !allowed.includes(s) || !SUPPORTED_SCOPES.includes(s));
  if (unknown.length > 0) throw InvalidScope(`scope not allowed for this client: ${unknown.join(' ')}`);
  if (scopes.includes('offline_access') && !client.grantTypes.includes(REFRESH_TOKEN_GRANT_TYPE)) {
    throw InvalidScope('offline_access requires a client registered for the refresh_token grant');
  }
  return scopes.join(' ');
};

const checkUserCode = (client: Client, user: User, presented: string | undefined): void => {
  if (!client.backchannelUserCodeParameter) return;
  if (presented === undefined) throw MissingUserCode('user_code is required for this client');
  if (!user.userCodeHash || !matchesHash(presented, user.userCodeHash)) throw InvalidUserCode('user_code is not valid');
};

/**
 * CIBA Core §7: validates a backchannel authentication request, admits it against the user's
 * per-minute budget (push-bombing protection), stores it and notifies the user's devices.
 */
export const startBackchannelAuthentication = async (
  deps: Pick<Deps, 'store' | 'keys' | 'notifier' | 'events' | 'clock' | 'logger'>,
  input: { tenant: Tenant; issuer: string; client: Client; form: Record<string, string> },
): Promise<BackchannelAcknowledgement> => {
  const { tenant, client, form } = input;
  const settings = tenant.settings;
  if (!client.grantTypes.includes(CIBA_GRANT_TYPE)) {
    throw UnauthorizedClient('the client is not registered for the CIBA grant');
  }
  for (const name of UNSUPPORTED) {
    if (form[name] !== undefined) throw InvalidRequest(`the ${name} parameter is not supported`);
  }
  const scope = validateScope(form.scope, client);
  const requestedExpiry = parseRequestedExpiry(form.requested_expiry);

  let bindingMessage: string | undefined;
  if (form.binding_message !== undefined) {
    bindingMessage = normalizeBindingMessage(form.binding_message, settings.bindingMessageMaxLength);
  } else if (settings.bindingMessageRequired) {
    throw InvalidRequest('binding_message is required by this tenant');
  }

  const sub = await resolveSubject(
    { directory: deps.store, keys: deps.keys },
    {
      tenantId: tenant.tenantId,
      issuer: input.issuer,
      client,
      hints: {
        login_hint: form.login_hint,
        login_hint_token: form.login_hint_token,
        id_token_hint: form.id_token_hint,
      },
    },
  );

  const now = deps.clock.now();
  const admitted = await deps.store.admitUserRequest(tenant.tenantId, sub, settings.userRateLimitPerMinute, now);
  if (admitted === undefined) throw UnknownUserId('could not identify the end-user from the hint');
  if ('rateLimited' in admitted) {
    deps.logger.warn('backchannel request refused: per-user rate limit', {
      tenant: tenant.tenantId,
      client: client.clientId,
    });
    throw AccessDenied(
      `too many authentication requests for this user: at most ${settings.userRateLimitPerMinute} per minute`,
    );
  }
  const { user } = admitted;
  checkUserCode(client, user, form.user_code);

  // CIBA §7.1: requested_expiry is clamped to the tenant's maximum; the effective value is returned.
  const expiresIn = Math.min(requestedExpiry ?? settings.backchannelExpiresIn, settings.backchannelMaxExpiresIn);
  const txn = randomToken(16);
  const request: AuthRequest = {
    txn,
    // CIBA §7.3: at least 128 bits (160 recommended); the secret half alone carries 160 bits.
    authReqId: `${txn}.${randomToken(20)}`,
    tenantId: tenant.tenantId,
    clientId: client.clientId,
    sub,
    claims: claimsForScope(user, scope),
    scope,
    deliveryMode: client.backchannelTokenDeliveryMode,
    status: 'pending',
    createdAt: now,
    expiresAt: now + expiresIn * 1000,
    interval: settings.backchannelPollingInterval,
    ...(form.acr_values !== undefined ? { acrValues: form.acr_values } : {}),
    ...(bindingMessage !== undefined ? { bindingMessage } : {}),
  };
  const written = await deps.store.createRequest(request);
  if (written !== 'ok') throw new Error('auth request id collision');

  await notifyDevices(deps, { tenant, client, user, request });
  await deps.events
    .publish([
      {
        type: 'CIBA Request Created',
        tenantId: tenant.tenantId,
        detail: {
          txn,
          client_id: client.clientId,
          sub,
          delivery_mode: request.deliveryMode,
          expires_at: request.expiresAt,
        },
      },
    ])
    .catch((error: unknown) => deps.logger.error('event publish failed', { error }));

  return {
    auth_req_id: request.authReqId,
    expires_in: expiresIn,
    ...(request.deliveryMode === 'push' ? {} : { interval: request.interval }),
  };
};
