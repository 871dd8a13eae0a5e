import type { AuthRequest } from './model.ts';
import type { CibaEvent, EventBus, Logger } from './ports.ts';

/**
 * The event contract (docs/events.md): the names of the events the service puts on the tenant's bus and the shape
 * of each one's detail, built here and nowhere else. How an event travels (EventBridge's source, detail-type,
 * account) is the adapter's: lib/adapters/eventbridge-format.ts.
 */

/** Lifecycle events on the tenant's bus. */
export const EVENT = {
  requestCreated: 'CIBA Request Created',
  requestDecided: 'CIBA Request Decided',
  /** The user reported a request ("I did not ask for this"): the client is shielded from the user for a while. */
  requestReported: 'CIBA Request Reported',
  /** A pending request reached its expiry unanswered, seen by the first poll after it (or the push expiry timer). */
  requestExpired: 'CIBA Request Expired',
  tokensIssued: 'CIBA Tokens Issued',
  callbackDelivered: 'CIBA Callback Delivered',
  callbackFailed: 'CIBA Callback Failed',
} as const;

/** Device events on the tenant's bus: changes to what protects a user's approvals. */
export const DEVICE_EVENT = {
  /** A device's passkey was registered, replaced (with the old one's assertion) or removed by an operator. */
  passkeyChanged: 'Device Passkey Changed',
} as const;

/** Internal events: sent by the scheduler to the callback function only, never put on the bus. */
export const TIMER_EVENT = {
  /** Attempt n (≥ 2) of a callback: `{tenant_id, txn, attempt}`. */
  callbackRetry: 'CIBA Callback Retry',
  /** A push request's expiry time: `{tenant_id, txn}`. */
  requestExpiry: 'CIBA Request Expiry',
  /** A request's channel_fallback_seconds have passed: `{tenant_id, txn}` (lib/ciba/reach-user.ts). */
  channelFallback: 'CIBA Channel Fallback',
} as const;

/**
 * What the tenant's rule hands to the callback function: decided ping and push requests, whose callback the function
 * delivers (ping notification or push token delivery, CIBA Core §10.2, §10.3). The local bus applies the same filter,
 * so the callback function sees what it sees in AWS.
 */
export const CALLBACK_EVENT = { detailType: EVENT.requestDecided, deliveryModes: ['ping', 'push'] } as const;

export const matchesCallbackRule = (event: CibaEvent): boolean =>
  event.type === CALLBACK_EVENT.detailType &&
  (CALLBACK_EVENT.deliveryModes as readonly unknown[]).includes(event.detail.delivery_mode);

/** The event's detail as it travels: the tenant always comes from the event, never from the detail. */
export const eventDetail = (event: CibaEvent): Record<string, unknown> => ({
  ...event.detail,
  tenant_id: event.tenantId,
});

/** Epoch seconds, as every time on the wire. */
export const epochSeconds = (ms: number): number => Math.floor(ms / 1000);

type RequestRef = Pick<AuthRequest, 'tenantId' | 'txn' | 'clientId' | 'sub' | 'deliveryMode'>;

/** The members every lifecycle event of a request carries. */
const about = (request: RequestRef) => ({
  txn: request.txn,
  client_id: request.clientId,
  sub: request.sub,
  delivery_mode: request.deliveryMode,
});

export const requestCreatedEvent = (request: RequestRef & Pick<AuthRequest, 'createdAt' | 'expiresAt'>): CibaEvent => ({
  type: EVENT.requestCreated,
  tenantId: request.tenantId,
  detail: {
    ...about(request),
    created_at: epochSeconds(request.createdAt),
    expires_at: epochSeconds(request.expiresAt),
  },
});

/** What a decision made of a request. */
export type DecidedStatus = Exclude<AuthRequest['status'], 'pending'>;

export const requestDecidedEvent = (request: RequestRef, status: DecidedStatus, decidedAt: number): CibaEvent => ({
  type: EVENT.requestDecided,
  tenantId: request.tenantId,
  detail: {
    txn: request.txn,
    client_id: request.clientId,
    sub: request.sub,
    status,
    delivery_mode: request.deliveryMode,
    decided_at: epochSeconds(decidedAt),
  },
});

export const requestReportedEvent = (
  request: RequestRef & { deviceId?: string | undefined },
  reportedAt: number,
  shieldUntil: number,
): CibaEvent => ({
  type: EVENT.requestReported,
  tenantId: request.tenantId,
  detail: {
    txn: request.txn,
    client_id: request.clientId,
    sub: request.sub,
    ...(request.deviceId !== undefined ? { device_id: request.deviceId } : {}),
    reported_at: epochSeconds(reportedAt),
    shield_until: epochSeconds(shieldUntil),
  },
});

export const requestExpiredEvent = (request: RequestRef): CibaEvent => ({
  type: EVENT.requestExpired,
  tenantId: request.tenantId,
  detail: about(request),
});

export const tokensIssuedEvent = (request: RequestRef): CibaEvent => ({
  type: EVENT.tokensIssued,
  tenantId: request.tenantId,
  detail: about(request),
});

export const callbackDeliveredEvent = (
  request: RequestRef,
  delivery: { kind: string; attempt: number; status: number; deliveredAt: number },
): CibaEvent => ({
  type: EVENT.callbackDelivered,
  tenantId: request.tenantId,
  detail: {
    txn: request.txn,
    client_id: request.clientId,
    delivery_mode: request.deliveryMode,
    kind: delivery.kind,
    attempt: delivery.attempt,
    status: delivery.status,
    delivered_at: epochSeconds(delivery.deliveredAt),
  },
});

export const callbackFailedEvent = (
  request: RequestRef,
  failure: { kind: string; attempts: number; reason: string; failedAt: number },
): CibaEvent => ({
  type: EVENT.callbackFailed,
  tenantId: request.tenantId,
  detail: {
    txn: request.txn,
    client_id: request.clientId,
    delivery_mode: request.deliveryMode,
    kind: failure.kind,
    attempts: failure.attempts,
    reason: failure.reason,
    failed_at: epochSeconds(failure.failedAt),
  },
});

export const passkeyChangedEvent = (input: {
  tenantId: string;
  sub: string;
  deviceId: string;
  change: 'registered' | 'replaced' | 'removed';
  credentialId: string;
  changedAt: number;
}): CibaEvent => ({
  type: DEVICE_EVENT.passkeyChanged,
  tenantId: input.tenantId,
  detail: {
    sub: input.sub,
    device_id: input.deviceId,
    change: input.change,
    credential_id: input.credentialId,
    changed_at: epochSeconds(input.changedAt),
  },
});

/** The timer of a request's channel fallback (lib/ciba/reach-user.ts). */
export const channelFallbackEvent = (request: Pick<AuthRequest, 'tenantId' | 'txn'>): CibaEvent => ({
  type: TIMER_EVENT.channelFallback,
  tenantId: request.tenantId,
  detail: { txn: request.txn },
});

/**
 * What makes two scheduled events the same timer (the AWS schedule's name is its digest; the local scheduler's key):
 * their type, tenant and detail.
 */
export const timerIdentity = (event: CibaEvent): string => JSON.stringify([event.type, event.tenantId, event.detail]);

/** A push request's expiry time: the callback function then pushes expired_token (CIBA §12). */
export const expiryTimerEvent = (request: Pick<AuthRequest, 'tenantId' | 'txn'>): CibaEvent => ({
  type: TIMER_EVENT.requestExpiry,
  tenantId: request.tenantId,
  detail: { txn: request.txn },
});

/** Attempt `attempt` (≥ 2) of a request's callback. */
export const retryEvent = (request: Pick<AuthRequest, 'tenantId' | 'txn'>, attempt: number): CibaEvent => ({
  type: TIMER_EVENT.callbackRetry,
  tenantId: request.tenantId,
  detail: { txn: request.txn, attempt },
});

/**
 * Puts lifecycle events on the bus, where a failure is logged and never fails the operation that produced them (the
 * decision that starts a callback must not be lost: it goes through publishDecision, lib/ciba/publish-decision.ts).
 */
export const publishEvents = (deps: { events: EventBus; logger: Logger }, ...events: CibaEvent[]): Promise<void> =>
  deps.events.publish(events).catch((error: unknown) => deps.logger.error('event publish failed', { error }));
