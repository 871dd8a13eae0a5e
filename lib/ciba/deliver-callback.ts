import {
  callbackDeliveredEvent,
  callbackFailedEvent,
  epochSeconds,
  expiryTimerEvent,
  publishEvents,
  requestExpiredEvent,
  retryEvent,
  tokensIssuedEvent,
} from '../events.ts';
import {
  type AuthRequest,
  type CallbackAttempt,
  type CallbackState,
  type Client,
  callbackPolicy,
  type Tenant,
} from '../model.ts';
import { isGrantCurrent } from '../oauth/grant-binding.ts';
import { issueRefreshToken, wantsRefreshToken } from '../oauth/refresh-tokens.ts';
import { accessGrantOf, mintTokens } from '../oauth/tokens.ts';
import type { CallbackLedger, ClientStore, RefreshTokenStore, RequestStore, TenantStore } from '../persistence.ts';
import type { DeadLetterRecord, Deps, OutboundHttp } from '../ports.ts';
import { openPushResponse, sealPushResponse } from './push-response.ts';

/** What started a delivery: the decision event (attempt 1), a scheduled retry, or a push request's expiry timer. */
export interface CallbackTrigger {
  tenantId: string;
  txn: string;
  attempt: number;
  reason: 'decided' | 'retry' | 'expiry';
}

export type CallbackOutcome =
  | { outcome: 'delivered'; attempt: number; status: number }
  | { outcome: 'retry_scheduled'; attempt: number; nextAttemptAt: number }
  | { outcome: 'dead_lettered'; attempt: number; reason: string }
  | { outcome: 'skipped'; reason: string };

/** What the callback carries: a ping (CIBA §10.2), pushed tokens (§10.3.1) or a push error (§12). */
export type CallbackKind = 'ping' | 'tokens' | 'access_denied' | 'expired_token' | 'transaction_failed';

/** Answers that no retry can turn into a success: stop at once (CIBA conformance: no retry after 401). */
export const PERMANENT_STATUSES: ReadonlySet<number> = new Set([400, 401, 403, 404, 410]);
/**
 * How long a claimed attempt is protected from a duplicate event: longer than one attempt can take (connect 3 s +
 * response 5 s + signing and writes; keep the callback function's timeout below it), shorter than the minute after
 * which Lambda retries a failed asynchronous invocation, so that retry can take the attempt over.
 */
export const CALLBACK_LEASE_MS = 30_000;
/** Delay before attempt n+1: random up to min(cap, base * 2^(n-1)) ("full jitter"). */
export const DEFAULT_CALLBACK_BACKOFF = { baseMs: 2_000, capMs: 3_600_000 } as const;

export const backoffDelay = (
  attempt: number,
  backoff: { baseMs: number; capMs: number },
  random: () => number = Math.random,
): number => Math.floor(random() * Math.min(backoff.capMs, backoff.baseMs * 2 ** (attempt - 1)));

export type DeliverCallbackDeps = Pick<
  Deps,
  'keys' | 'events' | 'scheduler' | 'deadLetters' | 'clock' | 'logger' | 'config'
> & {
  outbound: Pick<OutboundHttp, 'postJson'>;
  requests: Pick<RequestStore, 'get'>;
  tenants: Pick<TenantStore, 'get'>;
  clients: Pick<ClientStore, 'get'>;
  callbacks: CallbackLedger;
  refreshTokens: Pick<RefreshTokenStore, 'create'>;
  random?: () => number;
};

/** The callback a request calls for now, or undefined when it calls for none (yet). */
const kindOf = (request: AuthRequest, now: number): CallbackKind | undefined => {
  const push = request.deliveryMode === 'push';
  if (request.status === 'approved') return push ? 'tokens' : 'ping';
  // A reported request is a denial to the client (lib/ciba/report-shield.ts).
  if (request.status === 'denied' || request.status === 'reported') return push ? 'access_denied' : 'ping';
  // CIBA §12: expiry is pushed as expired_token; a ping is sent only after the user authenticated or refused.
  if (request.expiresAt <= now && push) return 'expired_token';
  return undefined;
};

/**
 * CIBA Core §10.2/§10.3/§12: one attempt at a ping or push callback, at least once and idempotent.
 *
 * Each attempt is claimed with a conditional write first, so a redelivered event finds the attempt taken (or
 * the callback delivered) and sends nothing. Push tokens are minted by the claimer and kept on the request in
 * the same conditional write that redeems the grant: one set per request, resent unchanged by every retry and
 * dropped once delivered or dead-lettered. A failed attempt schedules the next one with exponential backoff and
 * full jitter until the tenant's attempts or age are used up; 400, 401, 403, 404 and 410 and refused
 * destinations stop at once. What is given up on goes to the dead letters.
 */
export const deliverCallback = async (
  deps: DeliverCallbackDeps,
  trigger: CallbackTrigger,
): Promise<CallbackOutcome> => {
  const { logger } = deps;
  const log = { tenant: trigger.tenantId, txn: trigger.txn, attempt: trigger.attempt, trigger: trigger.reason };
  const now = deps.clock.now();
  const lease = { attempt: trigger.attempt, now, leaseUntil: now + CALLBACK_LEASE_MS };
  let claimed: AuthRequest | 'conflict';
  if (trigger.reason === 'decided') {
    // The decision's event: the claim itself requires what a read would check (the tenant's request, ping or push,
    // decided), so the attempt starts with one conditional write; a refused one is read to say why.
    claimed = await deps.callbacks.claim(trigger.txn, { ...lease, decidedFor: trigger.tenantId });
    if (claimed === 'conflict') {
      const found = await deps.requests.get(trigger.txn);
      return skip(deps, log, notDeliverable(found, trigger, now) ?? 'attempt already claimed or callback finished');
    }
  } else {
    const found = await deps.requests.get(trigger.txn);
    const refused = notDeliverable(found, trigger, now);
    if (refused || !found) return skip(deps, log, refused ?? 'unknown request');
    if (trigger.reason === 'expiry') {
      // The timer is a no-op for a request decided in time; one that fired early is set again.
      if (found.status !== 'pending') return skip(deps, log, 'decided before expiry');
      if (found.expiresAt > now) {
        await deps.scheduler.schedule(found.expiresAt, expiryTimerEvent(found));
        return skip(deps, log, 'not expired yet: timer set again');
      }
    }
    if (!kindOf(found, now)) return skip(deps, log, 'nothing to deliver');
    claimed = await deps.callbacks.claim(trigger.txn, lease);
    if (claimed === 'conflict') return skip(deps, log, 'attempt already claimed or callback finished');
  }
  const request = claimed;
  let kind = kindOf(request, now)!;
  if (kind === 'expired_token' && trigger.attempt === 1) {
    await publishEvents(deps, requestExpiredEvent(request));
  }
  const [tenant, client] = await Promise.all([
    deps.tenants.get(request.tenantId),
    deps.clients.get(request.tenantId, request.clientId),
  ]);
  const endpoint = client?.backchannelClientNotificationEndpoint;
  const record = (
    attempt: CallbackAttempt,
    state: CallbackState,
    extra: { deliveredAt?: number; deadLetterReason?: string } = {},
  ) => deps.callbacks.record(request.txn, attempt, { state, ...extra });

  // Hardening rule 7: never to a client (or tenant) registered again under the id of the one that asked.
  const registered = tenant !== undefined && isGrantCurrent(request, tenant, client);
  if (!tenant || !client || !registered || !endpoint || !request.clientNotificationToken) {
    const reason = !registered ? 'the client is no longer registered' : 'no notification endpoint or token';
    return deadLetter(
      deps,
      request,
      kind,
      endpoint ?? '',
      { attempt: trigger.attempt, at: now, error: reason },
      reason,
      record,
    );
  }

  let body: Record<string, unknown>;
  if (kind === 'ping') body = { auth_req_id: request.authReqId };
  else if (kind === 'tokens') {
    const tokens = await pushTokens(deps, request, tenant, client, now);
    if (tokens) body = tokens;
    else {
      kind = 'transaction_failed';
      body = { error: kind, auth_req_id: request.authReqId };
    }
  } else body = { error: kind, auth_req_id: request.authReqId };

  const result = await deps.outbound.postJson(endpoint, {
    headers: { Authorization: `Bearer ${request.clientNotificationToken}` },
    body: JSON.stringify(body),
    allowPrivateNetwork: tenant.settings.developmentMode,
  });
  const at = deps.clock.now();
  const attempt: CallbackAttempt =
    'status' in result
      ? { attempt: trigger.attempt, at, status: result.status }
      : { attempt: trigger.attempt, at, error: result.error };

  if ('status' in result && result.status >= 200 && result.status < 300) {
    await record(attempt, 'delivered', { deliveredAt: at });
    logger.info('callback delivered', { ...log, kind, status: result.status });
    await publishEvents(
      deps,
      callbackDeliveredEvent(request, { kind, attempt: trigger.attempt, status: result.status, deliveredAt: at }),
    );
    return { outcome: 'delivered', attempt: trigger.attempt, status: result.status };
  }

  const failure = 'status' in result ? `HTTP ${result.status}` : result.error;
  const permanent = 'status' in result ? PERMANENT_STATUSES.has(result.status) : result.permanent === true;
  if (permanent) {
    return deadLetter(deps, request, kind, endpoint, attempt, `${failure}: not retried`, record);
  }
  const policy = callbackPolicy(tenant.settings);
  const firstAt = request.callback?.attempts[0]?.at ?? now;
  const nextAttemptAt =
    at + backoffDelay(trigger.attempt, deps.config.callbackBackoff ?? DEFAULT_CALLBACK_BACKOFF, deps.random);
  if (trigger.attempt >= policy.maxAttempts) {
    return deadLetter(
      deps,
      request,
      kind,
      endpoint,
      attempt,
      `${failure}: gave up after ${trigger.attempt} attempts`,
      record,
    );
  }
  if (nextAttemptAt - firstAt > policy.maxAgeSeconds * 1000) {
    const reason = `${failure}: gave up after ${Math.round((at - firstAt) / 1000)} s (maximum age ${policy.maxAgeSeconds} s)`;
    return deadLetter(deps, request, kind, endpoint, attempt, reason, record);
  }
  // Schedule before recording: if scheduling fails the claim stays, and the event's redelivery retakes this attempt.
  await deps.scheduler.schedule(nextAttemptAt, retryEvent(request, trigger.attempt + 1));
  await record(attempt, 'pending');
  logger.warn('callback failed, retry scheduled', {
    ...log,
    kind,
    failure,
    next_attempt_at: epochSeconds(nextAttemptAt),
  });
  return { outcome: 'retry_scheduled', attempt: trigger.attempt, nextAttemptAt };
};

/** Why a request takes no callback from this trigger, whatever its attempts: undefined when it may take one. */
const notDeliverable = (found: AuthRequest | undefined, trigger: CallbackTrigger, now: number): string | undefined => {
  if (!found || found.tenantId !== trigger.tenantId) return 'unknown request';
  if (found.deliveryMode === 'poll') return 'poll mode request';
  if (found.callback && found.callback.state !== 'pending') return `callback ${found.callback.state}`;
  if (trigger.reason === 'decided' && !kindOf(found, now)) return 'nothing to deliver';
  return undefined;
};

const skip = (deps: Pick<Deps, 'logger'>, log: Record<string, unknown>, reason: string): CallbackOutcome => {
  deps.logger.debug('callback skipped', { ...log, reason });
  return { outcome: 'skipped', reason };
};

/**
 * The push body (CIBA §10.3.1: the token response members and `auth_req_id`): the kept one, or tokens minted now
 * and kept in the write that redeems the grant. Undefined when the grant is gone without a kept response.
 */
const pushTokens = async (
  deps: DeliverCallbackDeps,
  request: AuthRequest,
  tenant: Tenant,
  client: Client,
  now: number,
): Promise<Record<string, unknown> | undefined> => {
  if (request.sealedPushResponse) return openPushResponse(deps.keys, request, request.sealedPushResponse);
  if (!request.grantPending) return undefined;
  const issuer = request.issuer ?? (deps.config.publicUrl ? `${deps.config.publicUrl}/${tenant.tenantId}` : undefined);
  if (!issuer) return undefined;
  // A refresh token exists before the ID token that carries its rt_hash (CIBA §10.3.1).
  const refreshToken = wantsRefreshToken(client, request.scope)
    ? await issueRefreshToken(deps, { tenant, clientId: client.clientId, now, grant: accessGrantOf(request, now) })
    : undefined;
  const tokens = await mintTokens(deps.keys, {
    issuer,
    tenant,
    client,
    request,
    now,
    ...(refreshToken ? { refreshToken } : {}),
    ...(request.certificateThumbprint ? { certificateThumbprint: request.certificateThumbprint } : {}),
  });
  const response = { ...tokens, auth_req_id: request.authReqId };
  // Hardening rule 12: kept sealed until delivered, never in plain text.
  const saved = await deps.callbacks.savePushResponse(
    request.txn,
    await sealPushResponse(deps.keys, request, response),
    now,
  );
  if (saved === 'conflict') {
    const sealed = (await deps.requests.get(request.txn))?.sealedPushResponse;
    return sealed === undefined ? undefined : openPushResponse(deps.keys, request, sealed);
  }
  await publishEvents(deps, tokensIssuedEvent(request));
  return response;
};

const deadLetter = async (
  deps: DeliverCallbackDeps,
  request: AuthRequest,
  kind: CallbackKind,
  endpoint: string,
  attempt: CallbackAttempt,
  reason: string,
  record: (a: CallbackAttempt, s: CallbackState, e: { deadLetterReason: string }) => Promise<unknown>,
): Promise<CallbackOutcome> => {
  const letter: DeadLetterRecord = {
    tenantId: request.tenantId,
    txn: request.txn,
    clientId: request.clientId,
    deliveryMode: request.deliveryMode as 'ping' | 'push',
    kind,
    endpoint,
    reason,
    attempts: [...(request.callback?.attempts ?? []), attempt],
    failedAt: attempt.at,
  };
  await deps.deadLetters.put(letter);
  await record(attempt, 'dead_lettered', { deadLetterReason: reason });
  deps.logger.warn('callback dead-lettered', { tenant: request.tenantId, txn: request.txn, kind, reason });
  await publishEvents(
    deps,
    callbackFailedEvent(request, { kind, attempts: attempt.attempt, reason, failedAt: attempt.at }),
  );
  return { outcome: 'dead_lettered', attempt: attempt.attempt, reason };
};
