import { randomToken } from '../crypto.ts';
import { checkAcrValues, normalizeBindingMessage } from '../display-string.ts';
import {
  AccessDenied,
  InvalidRequest,
  InvalidScope,
  InvalidUserCode,
  UnauthorizedClient,
  UnknownUserId,
} from '../errors.ts';
import { expiryTimerEvent, publishEvents, requestCreatedEvent } from '../events.ts';
import {
  type AuthRequest,
  CIBA_GRANT_TYPE,
  type Client,
  REFRESH_TOKEN_GRANT_TYPE,
  type Tenant,
  type User,
} from '../model.ts';
import { parseAuthorizationDetails } from '../oauth/authorization-details.ts';
import { renderDetailDisplays } from '../oauth/display-template.ts';
import { grantBinding } from '../oauth/grant-binding.ts';
import { claimsForScope, SUPPORTED_SCOPES, splitScope } from '../oauth/scopes.ts';
import type { WriteOutcome } from '../persistence.ts';
import type { Deps } from '../ports.ts';
import { admitClientRequest, checkUserCode, refuseKnownClientRequest } from './abuse-limits.ts';
import { fallbackTime, reachUser } from './reach-user.ts';
import { admissionGate, gateRefusalError } from './report-shield.ts';
import { resolveSubject } from './resolve-login-hint.ts';
import { admitUserRequest, type CountedRequest, refundUserRequest, type UserAdmission } from './user-rate-window.ts';

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
    throw new InvalidRequest('requested_expiry must be a positive integer number of seconds');
  }
  return Number(raw);
};

/** RFC 6750 §2.1 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=". */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
/** CIBA §7.1: "The length of the token MUST NOT exceed 1024 characters". */
export const MAX_NOTIFICATION_TOKEN_LENGTH = 1024;

/**
 * CIBA §7.1: client_notification_token is REQUIRED for ping and push clients (it becomes the bearer token of the
 * callback) and means nothing to a poll client, which gets it ignored, not stored.
 */
const notificationToken = (client: Client, raw: string | undefined): string | undefined => {
  if (client.backchannelTokenDeliveryMode === 'poll') return undefined;
  if (raw === undefined) throw new InvalidRequest('client_notification_token is required for ping and push clients');
  if (raw.length > MAX_NOTIFICATION_TOKEN_LENGTH) {
    throw new InvalidRequest(`client_notification_token must not exceed ${MAX_NOTIFICATION_TOKEN_LENGTH} characters`);
  }
  if (!B64TOKEN.test(raw))
    throw new InvalidRequest('client_notification_token must have the RFC 6750 bearer token syntax');
  return raw;
};

const validateScope = (raw: string | undefined, client: Client): string => {
  if (raw === undefined) throw new InvalidRequest('scope is required');
  const scopes = [...new Set(splitScope(raw))];
  // CIBA §7.1: "CIBA authentication requests MUST therefore contain the openid scope value".
  if (!scopes.includes('openid')) throw new InvalidRequest('scope must include openid');
  const allowed = client.scope ? splitScope(client.scope) : SUPPORTED_SCOPES;
  const unknown = scopes.filter((s) => !allowed.includes(s) || !SUPPORTED_SCOPES.includes(s));
  if (unknown.length > 0) throw new InvalidScope(`scope not allowed for this client: ${unknown.join(' ')}`);
  if (scopes.includes('offline_access') && !client.grantTypes.includes(REFRESH_TOKEN_GRANT_TYPE)) {
    throw new InvalidScope('offline_access requires a client registered for the refresh_token grant');
  }
  return scopes.join(' ');
};

/** A backchannel authentication request of an authenticated client. */
export interface BackchannelRequestInput {
  tenant: Tenant;
  issuer: string;
  client: Client;
  form: Record<string, string>;
  /** RFC 8705: push-mode tokens are minted later, by the callback: the binding is kept on the request. */
  certificateThumbprint?: string;
}

/**
 * CIBA Core §7: validates a backchannel authentication request, admits it against the user's
 * per-minute budget (push-bombing protection), stores it and notifies the user's devices.
 */
/** The ports a backchannel request uses. */
export type BackchannelDeps = Pick<
  Deps,
  | 'tenants'
  | 'users'
  | 'devices'
  | 'rateWindows'
  | 'quotas'
  | 'admission'
  | 'requests'
  | 'pushChannels'
  | 'keys'
  | 'notifier'
  | 'links'
  | 'sender'
  | 'events'
  | 'scheduler'
  | 'outbound'
  | 'clock'
  | 'logger'
  | 'config'
>;

export const startBackchannelAuthentication = async (
  deps: BackchannelDeps,
  input: BackchannelRequestInput,
): Promise<BackchannelAcknowledgement> => {
  const { tenant, client, form } = input;
  const settings = tenant.settings;
  if (!client.grantTypes.includes(CIBA_GRANT_TYPE)) {
    throw new UnauthorizedClient('the client is not registered for the CIBA grant');
  }
  for (const name of UNSUPPORTED) {
    if (form[name] !== undefined) throw new InvalidRequest(`the ${name} parameter is not supported`);
  }
  const scope = validateScope(form.scope, client);
  const clientNotificationToken = notificationToken(client, form.client_notification_token);
  const requestedExpiry = parseRequestedExpiry(form.requested_expiry);
  // Hardening rule 5: the device shows acr_values; at most 10 values of printable ASCII.
  const acrValues = form.acr_values === undefined ? undefined : checkAcrValues(form.acr_values);

  let bindingMessage: string | undefined;
  if (form.binding_message !== undefined) {
    bindingMessage = normalizeBindingMessage(form.binding_message, settings.bindingMessageMaxLength);
  } else if (settings.bindingMessageRequired || settings.bindingCodeConfirmation) {
    throw new InvalidRequest('binding_message is required by this tenant');
  }

  // RFC 9396: checked before the user is looked up, so a bad request never counts against the user's budget. What
  // the device will show of it is rendered now, so that a string unsafe to show is refused before anything is spent.
  const authorizationDetails = parseAuthorizationDetails(tenant, client, form.authorization_details);
  const display =
    authorizationDetails && renderDetailDisplays(authorizationDetails, settings.authorizationDetailsTypes ?? {});
  // Abuse controls (SECURITY.md): the client's and the tenant's budgets and the pending cap, counted beside the user's
  // budget (one round trip for both). A refusal this process already knows answers before anything is touched.
  const now = deps.clock.now();
  refuseKnownClientRequest(deps, { tenant, client, now });
  const [tenantSide, userSide] = await Promise.allSettled([
    admitClientRequest(deps, { tenant, client, now }),
    admitUser(deps, input, now),
  ]);
  // The client's or tenant's refusal is the answer whatever the user's side found, and a request it refused spends
  // none of the user's budget: what the user's side counted is given back.
  if (tenantSide.status === 'rejected') {
    if (userSide.status === 'fulfilled') await refund(deps, userSide.value.counted);
    throw tenantSide.reason;
  }
  const admission = tenantSide.value;
  // Hardening rule 6: a request refused before it exists holds no pending slot.
  if (userSide.status === 'rejected') {
    await admission.release();
    throw userSide.reason;
  }
  const { user, counted } = userSide.value;
  let request: AuthRequest;
  try {
    await checkUserCode(deps, { tenant, client, user, presented: form.user_code, now });
  } catch (error) {
    // A wrong user_code is a guess, and each guess counts against the user's budget (lib/ciba/abuse-limits.ts
    // checkUserCode); any other refusal here (no code, a client locked out of the user's codes, a failure) spends
    // none of it.
    await Promise.all([admission.release(), error instanceof InvalidUserCode ? undefined : refund(deps, counted)]);
    throw error;
  }
  try {
    request = await storeRequest(deps, {
      ...input,
      user,
      now,
      request: {
        scope,
        ...(requestedExpiry !== undefined ? { requestedExpiry } : {}),
        ...(acrValues !== undefined ? { acrValues } : {}),
        ...(bindingMessage !== undefined ? { bindingMessage } : {}),
        ...(authorizationDetails !== undefined ? { authorizationDetails } : {}),
        ...(display !== undefined ? { display } : {}),
        ...(clientNotificationToken !== undefined ? { clientNotificationToken } : {}),
      },
    });
  } catch (error) {
    // A request that could not be stored never existed: it holds no pending slot and spends none of the budget.
    await Promise.all([admission.release(), refund(deps, counted)]);
    throw error;
  }

  // The push and the event are independent: sent side by side, so the client's answer waits for the slower one
  // only (SNS and EventBridge each take tens of milliseconds in AWS). Neither failure fails the request.
  await Promise.all([
    reachUser(deps, { tenant, client, user, request }),
    publishEvents(deps, requestCreatedEvent(request)),
  ]);

  return {
    auth_req_id: request.authReqId,
    expires_in: Math.round((request.expiresAt - request.createdAt) / 1000),
    ...(request.deliveryMode === 'push' ? {} : { interval: request.interval }),
  };
};

/**
 * The user's side of a backchannel request's admission, run beside the client's and tenant's: the user named by the
 * hint, admitted against their per-minute budget (push-bombing protection), their report shield and reachability.
 * Every refusal here is a request that never existed, and counts nothing.
 */
const admitUser = async (
  deps: BackchannelDeps,
  input: BackchannelRequestInput,
  now: number,
): Promise<UserAdmission> => {
  const { tenant, client, form } = input;
  const settings = tenant.settings;
  const sub = await resolveSubject(deps, {
    tenantId: tenant.tenantId,
    issuer: input.issuer,
    client,
    hints: {
      login_hint: form.login_hint,
      login_hint_token: form.login_hint_token,
      id_token_hint: form.id_token_hint,
    },
  });

  // The user's budget, their report shield against this client and their reachability, in one conditional write:
  // a request refused for any of them spends nothing (lib/ciba/report-shield.ts).
  const admitted = await admitUserRequest(deps, {
    tenantId: tenant.tenantId,
    sub,
    limitPerMinute: settings.userRateLimitPerMinute,
    now,
    gate: admissionGate(client, settings),
  });
  if (admitted === undefined) throw new UnknownUserId('could not identify the end-user from the hint');
  if ('refused' in admitted) {
    deps.logger.info(
      admitted.refused === 'shielded'
        ? 'backchannel request refused: the user reported this client'
        : 'backchannel request refused: the user has no device',
      { tenant: tenant.tenantId, client: client.clientId },
    );
    throw gateRefusalError(admitted);
  }
  if ('rateLimited' in admitted) {
    deps.logger.warn('backchannel request refused: per-user rate limit', {
      tenant: tenant.tenantId,
      client: client.clientId,
    });
    throw new AccessDenied(
      `too many authentication requests for this user: at most ${settings.userRateLimitPerMinute} per minute`,
    );
  }
  return admitted;
};

/** Gives a request that never existed back to its user's budget; a failure leaves it counted until its window passes. */
const refund = (deps: BackchannelDeps, counted: CountedRequest) =>
  refundUserRequest(deps, counted).catch((error) =>
    deps.logger.warn('user budget not given back', {
      tenant: counted.tenantId,
      error: error instanceof Error ? error.name : String(error),
    }),
  );

/** The admitted request, stored (with its expiry timer for a push client). */
const storeRequest = async (
  deps: BackchannelDeps,
  input: BackchannelRequestInput & {
    user: User;
    now: number;
    request: Pick<
      AuthRequest,
      'scope' | 'acrValues' | 'bindingMessage' | 'authorizationDetails' | 'display' | 'clientNotificationToken'
    > & { requestedExpiry?: number };
  },
): Promise<AuthRequest> => {
  const { tenant, client, user, now } = input;
  const { sub } = user;
  const settings = tenant.settings;
  const { requestedExpiry, ...fields } = input.request;
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
    claims: claimsForScope(user, fields.scope),
    ...fields,
    ...grantBinding(tenant, client),
    deliveryMode: client.backchannelTokenDeliveryMode,
    status: 'pending',
    createdAt: now,
    expiresAt: now + expiresIn * 1000,
    interval: settings.backchannelPollingInterval,
    issuer: input.issuer,
    ...(input.certificateThumbprint !== undefined && client.backchannelTokenDeliveryMode === 'push'
      ? { certificateThumbprint: input.certificateThumbprint }
      : {}),
  };
  const fallbackAt = fallbackTime(tenant, user, request);
  if (fallbackAt !== undefined) request.fallbackAt = fallbackAt;
  if (request.deliveryMode !== 'push') {
    await created(deps.requests.create(request));
    return request;
  }
  // CIBA §12: a push client learns of expiry from an expired_token push, sent when this timer fires. The timer and
  // the request are written side by side (one round trip), and the request fails whole (retryable) when either
  // fails: a timer whose request was never stored finds nothing to do when it fires, and a request stored without
  // its timer is withdrawn before the error is answered.
  const [timer, stored] = await Promise.allSettled([
    deps.scheduler.schedule(request.expiresAt, expiryTimerEvent(request)),
    created(deps.requests.create(request)),
  ]);
  if (stored.status === 'rejected') throw stored.reason;
  if (timer.status === 'rejected') await withdrawUntimed(deps, request, timer.reason);
  return request;
};

const created = async (written: Promise<WriteOutcome>) => {
  if ((await written) !== 'ok') throw new Error('auth request id collision');
};

/**
 * A push request stored without its expiry timer is withdrawn, and the timer's error answered: the request never
 * existed. One that a device decided in the moment between needs no timer (its tokens or denial are pushed at the
 * decision), so it stands and is answered as any other.
 */
const withdrawUntimed = async (deps: BackchannelDeps, request: AuthRequest, timerError: unknown) => {
  const log = { tenant: request.tenantId, client: request.clientId, txn: request.txn };
  let withdrawn: boolean;
  try {
    withdrawn = await deps.requests.withdraw(request.txn);
  } catch (error) {
    // Both failed: the request stays stored without a timer; an undecided one expires without an expired_token push.
    deps.logger.error('push request stored without its expiry timer', { ...log, error });
    throw timerError;
  }
  if (withdrawn) throw timerError;
  deps.logger.info('expiry timer not set for a push request decided at once', log);
};
