import { channelFallbackEvent, type DecidedStatus, expiryTimerEvent, requestDecidedEvent } from '../events.ts';
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

/**
 * A decided request's timers have nothing left to do: a push request's expiry timer (bc-authorize's: an undecided push
 * request is pushed expired_token at its expiry) and a channel fallback still ahead (lib/ciba/reach-user.ts). The
 * decision's carriers (the table stream's consumer, locally the decision feed) withdraw them beside its publish, so
 * that they neither run nor are billed (Scheduler bills a schedule when it runs). Never fails: a timer that could not
 * be withdrawn runs and finds the request decided, as it did before timers were withdrawn (a warning says so).
 */
export const withdrawDecidedTimers = async (
  deps: Pick<Deps, 'scheduler' | 'clock' | 'logger'>,
  request: AuthRequest,
): Promise<void> => {
  const timers: CibaEvent[] = [];
  if (request.deliveryMode === 'push') timers.push(expiryTimerEvent(request));
  if (request.fallbackAt !== undefined && request.fallbackAt > deps.clock.now()) {
    timers.push(channelFallbackEvent(request));
  }
  await Promise.all(
    timers.map(async (timer) => {
      try {
        await deps.scheduler.cancel(timer);
      } catch (error) {
        deps.logger.warn('timer not withdrawn', {
          tenant: request.tenantId,
          txn: request.txn,
          type: timer.type,
          error,
        });
      }
    }),
  );
};
