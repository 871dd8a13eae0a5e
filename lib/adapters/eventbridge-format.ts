import { CALLBACK_EVENT, eventDetail } from '../events.ts';
import type { CibaEvent } from '../ports.ts';

/**
 * The EventBridge wire format of the service's events: what a rule matches on and what a rule or a Scheduler target
 * hands to a Lambda function. The contract (names, details) is lib/events.ts; this is only how it travels.
 */

/** The `source` of every event this service puts on the bus (rules match on it). */
export const CIBA_EVENT_SOURCE = 'ciba';

/**
 * The event pattern of the service's own rule (infra/service-stack.ts): decided ping and push requests of every tenant
 * to the callback function. The benchmark counts the events a deployment without rules of its own puts with it.
 */
export const callbackRulePattern = () => ({
  source: [CIBA_EVENT_SOURCE],
  'detail-type': [CALLBACK_EVENT.detailType as string],
  detail: { delivery_mode: [...CALLBACK_EVENT.deliveryModes] as string[] },
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
