import { type DecidedStatus, requestDecidedEvent } from '../events.ts';
import type { AuthRequest } from '../model.ts';
import type { CibaEvent, Deps } from '../ports.ts';

/**
 * Puts `CIBA Request Decided` on the bus: the one place that publishes a decision. Its callers carry the store's
 * decisions, not the requests that decide (docs/events.md): in AWS the table stream's consumer function
 * (functions/events), locally the decision feed (lib/local/decision-feed.ts); besides them only the device's repeat of
 * a decision whose callback never started (recordDeviceDecision, a safety net). For a poll request the event is a
 * lifecycle event only: a failure is logged. For ping and push it also starts the callback, so it must not be lost:
 * when the bus fails, the scheduler hands the same event to the callback function now; when both fail the error
 * propagates, so that the carrier tries again (the stream retries its batch; the local feed logs it, and a restart
 * feeds the decision again: lib/local/recover-timers.ts). The callback function is idempotent, so an event that
 * arrives twice sends one callback.
 */
export const publishDecision = async (
  deps: Pick<Deps, 'events' | 'scheduler' | 'clock' | 'logger'>,
  request: AuthRequest,
  status: DecidedStatus,
  decidedAt: number,
): Promise<void> => publishDecidedEvent(deps, requestDecidedEvent(request, status, decidedAt));

/** publishDecision of an event already built (a decision letter handed back by the retries: lib/ports.ts). */
export const publishDecidedEvent = async (
  deps: Pick<Deps, 'events' | 'scheduler' | 'clock' | 'logger'>,
  event: CibaEvent,
): Promise<void> => {
  const txn = event.detail.txn;
  try {
    await deps.events.publish([event]);
    return;
  } catch (error) {
    deps.logger.error('event publish failed', { txn, error });
    if (event.detail.delivery_mode === 'poll') return;
  }
  await deps.scheduler.schedule(deps.clock.now(), event);
  deps.logger.warn('callback started through the scheduler after the bus failed', { tenant: event.tenantId, txn });
};
