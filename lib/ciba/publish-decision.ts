import { type DecidedStatus, requestDecidedEvent } from '../events.ts';
import type { AuthRequest } from '../model.ts';
import type { Deps } from '../ports.ts';

/**
 * Puts `CIBA Request Decided` on the bus. For a poll request it is a lifecycle event only: a failure is logged. For
 * ping and push it also starts the callback, so it must not be lost: when the bus fails, the scheduler hands the
 * same event to the callback function now; when both fail the error propagates (a retryable 503 for the device),
 * and the device's retry of the same decision publishes again (recordDeviceDecision). The callback function is
 * idempotent, so an event that arrives twice sends one callback.
 */
export const publishDecision = async (
  deps: Pick<Deps, 'events' | 'scheduler' | 'clock' | 'logger'>,
  request: AuthRequest,
  status: DecidedStatus,
  decidedAt: number,
): Promise<void> => {
  const event = requestDecidedEvent(request, status, decidedAt);
  try {
    await deps.events.publish([event]);
    return;
  } catch (error) {
    deps.logger.error('event publish failed', { txn: request.txn, error });
    if (request.deliveryMode === 'poll') return;
  }
  await deps.scheduler.schedule(deps.clock.now(), event);
  deps.logger.warn('callback started through the scheduler after the bus failed', {
    tenant: request.tenantId,
    txn: request.txn,
  });
};
