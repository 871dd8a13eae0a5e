import type { CibaEvent } from '../ports.ts';

/** The `source` of every event this service puts on the bus (rules match on it). */
export const CIBA_EVENT_SOURCE = 'ciba';

/** Lifecycle events on the tenant's bus (docs/events.md). */
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

/** Device events on the tenant's bus (docs/events.md): changes to what protects a user's approvals. */
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
 * What the tenant's EventBridge rule hands to the callback function (infra/ciba-tenant.ts): decided ping and push
 * requests, whose callback the function delivers (ping notification or push token delivery, CIBA Core §10.2, §10.3). The local bus applies the same filter, so the callback function sees what it sees in AWS.
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

/** An EventBridge event (what a rule or a scheduler target hands to a Lambda function). */
export interface CibaEventBridgeEvent {
  version: string;
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, unknown>;
}

/**
 * The event as EventBridge delivers it to a target: used by the local bus (so the callback handler gets the
 * same shape locally) and as the input of EventBridge Scheduler schedules.
 */
export const toEventBridgeEvent = (
  event: CibaEvent,
  meta: { id: string; time: number; account?: string; region?: string },
): CibaEventBridgeEvent => ({
  version: '0',
  id: meta.id,
  'detail-type': event.type,
  source: CIBA_EVENT_SOURCE,
  account: meta.account ?? '000000000000',
  time: new Date(meta.time).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  region: meta.region ?? 'local',
  resources: [],
  detail: eventDetail(event),
});

/** Epoch seconds, as every time on the wire. */
export const epochSeconds = (ms: number): number => Math.floor(ms / 1000);
