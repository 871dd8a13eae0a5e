import middy from '@middy/core';
import * as z from 'zod';
import { CIBA_EVENT_SOURCE, type CibaEventBridgeEvent } from '../../lib/adapters/eventbridge-format.ts';
import {
  type CallbackOutcome,
  type CallbackTrigger,
  type DeliverCallbackDeps,
  deliverCallback,
} from '../../lib/ciba/deliver-callback.ts';
import { channelFallback } from '../../lib/ciba/reach-user.ts';
import { EVENT, TIMER_EVENT } from '../../lib/events.ts';
import type { Deps } from '../../lib/ports.ts';

const Detail = z.object({
  tenant_id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
  txn: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
  attempt: z.int().min(1).max(1000).optional(),
  delivery_mode: z.string().optional(),
});

/** The callback work an event asks for, or undefined for an event this function does not handle. */
export const triggerOf = (
  event: Pick<CibaEventBridgeEvent, 'source' | 'detail-type' | 'detail'>,
): CallbackTrigger | undefined => {
  if (event.source !== CIBA_EVENT_SOURCE) return undefined;
  const parsed = Detail.safeParse(event.detail);
  if (!parsed.success) return undefined;
  const { tenant_id: tenantId, txn, attempt, delivery_mode: mode } = parsed.data;
  switch (event['detail-type']) {
    case EVENT.requestDecided:
      return mode === 'ping' || mode === 'push' ? { tenantId, txn, attempt: 1, reason: 'decided' } : undefined;
    case TIMER_EVENT.callbackRetry:
      return attempt !== undefined && attempt >= 2 ? { tenantId, txn, attempt, reason: 'retry' } : undefined;
    case TIMER_EVENT.requestExpiry:
      return { tenantId, txn, attempt: 1, reason: 'expiry' };
    default:
      return undefined;
  }
};

/** The ports this function uses: its Lambda entry builds only these. */
export type CallbackDeps = DeliverCallbackDeps & Pick<Deps, 'users' | 'links' | 'sender'>;

/** A channel fallback timer (lib/ciba/reach-user.ts): `{tenant_id, txn}`. */
const fallbackOf = (
  event: Pick<CibaEventBridgeEvent, 'source' | 'detail-type' | 'detail'>,
): { tenantId: string; txn: string } | undefined => {
  if (event.source !== CIBA_EVENT_SOURCE || event['detail-type'] !== TIMER_EVENT.channelFallback) return undefined;
  const parsed = Detail.safeParse(event.detail);
  return parsed.success ? { tenantId: parsed.data.tenant_id, txn: parsed.data.txn } : undefined;
};

/**
 * The callback function: EventBridge hands it `CIBA Request Decided` of ping and push requests (one rule for every
 * tenant, infra/service-stack.ts), EventBridge Scheduler its retry, push-expiry and channel-fallback events, in the
 * same shape. An event it does not handle is dropped (retrying
 * cannot help); a store or signing failure throws, so the invoker retries the event.
 */
export const createHandler = (deps: CallbackDeps) =>
  middy<CibaEventBridgeEvent, CallbackOutcome | undefined>().handler(async (event, context) => {
    deps.logger.addContext?.(context);
    // The channel fallback timer rides the scheduler that carries callback retries and push expiry.
    const fallback = fallbackOf(event);
    if (fallback) {
      await channelFallback(deps, fallback);
      return undefined;
    }
    const trigger = triggerOf(event);
    if (!trigger) {
      deps.logger.debug('callback event ignored', { detail_type: event['detail-type'], source: event.source });
      return undefined;
    }
    return deliverCallback(deps, trigger);
  });
