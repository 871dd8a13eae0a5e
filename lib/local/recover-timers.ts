import { channelFallbackEvent, expiryTimerEvent, requestDecidedEvent, retryEvent } from '../events.ts';
import type { CibaEvent, Clock, Logger, Scheduler } from '../ports.ts';
import type { StoredDecision } from './decision-feed.ts';
import type { LocalStore, OpenCallback } from './local-store.ts';

/**
 * The timer an unfinished callback needs, from what the store says: the expired_token push of a pending push request
 * at its expiry; otherwise the next attempt, now, or the attempt whose worker stopped at the end of its lease (the
 * claim lets it be taken over only then). Undefined for a pending ping request, which has nothing to send yet.
 */
export const timerFor = (
  { request, claimed, leaseUntil }: OpenCallback,
  now: number,
): { at: number; event: CibaEvent } | undefined => {
  // Attempt 1 is started by the decision, or by the expiry of a pending push request; later ones by retry timers.
  const attempt = (n: number): CibaEvent => {
    if (n > 1) return retryEvent(request, n);
    return request.status === 'pending'
      ? expiryTimerEvent(request)
      : requestDecidedEvent(request, request.status, request.decidedAt ?? now);
  };
  if (claimed === undefined) {
    if (request.status !== 'pending') return { at: now, event: attempt(1) };
    return request.deliveryMode === 'push' ? { at: request.expiresAt, event: attempt(1) } : undefined;
  }
  // The claim can be taken over once its lease has passed (strictly): a second later, to be sure.
  if (leaseUntil !== undefined) return { at: Math.max(now, leaseUntil + 1_000), event: attempt(claimed) };
  return { at: now, event: attempt(claimed + 1) };
};

/**
 * The local scheduler keeps its timers in memory, so a restart would lose the callbacks they were to send (a push
 * client would never learn its result) and the channel fallbacks of pending requests (the email would never follow
 * the unanswered push). On start, every ping or push request with an unfinished callback gets its timer again, and
 * every pending request with a fallback its fallback timer: at its time, or at once when that has passed. Delivery
 * stays idempotent: an attempt already made is refused by its claim, and a fallback already sent sends nothing (the
 * link channel is marked sent by a conditional write before anything is counted or sent: lib/ciba/approval-links.ts).
 *
 * A decided request whose callback never started had its `Request Decided` event still in the decision feed (kept in
 * memory: lib/local/decision-feed.ts) when the previous run stopped: it goes to `feed` again, as a table stream keeps
 * a record until its consumer has handled it. A poll request's lost event is not recovered (it starts nothing, and
 * finding it would take a scan of the ledger).
 */
export const recoverTimers = async (deps: {
  store: Pick<LocalStore, 'openCallbacks' | 'pendingFallbacks'>;
  scheduler: Pick<Scheduler, 'schedule'>;
  feed: (decision: StoredDecision) => void;
  clock: Clock;
  logger: Logger;
}): Promise<number> => {
  let count = 0;
  let fed = 0;
  for await (const open of deps.store.openCallbacks(deps.clock.now())) {
    const { request } = open;
    if (open.claimed === undefined && request.status !== 'pending') {
      deps.feed({ request, status: request.status, decidedAt: request.decidedAt ?? deps.clock.now() });
      fed++;
      continue;
    }
    const timer = timerFor(open, deps.clock.now());
    if (!timer) continue;
    await deps.scheduler.schedule(timer.at, timer.event);
    count++;
  }
  if (count > 0) deps.logger.info('callback timers set again from the store', { count });
  if (fed > 0) deps.logger.info('decisions whose callback never started fed again', { count: fed });
  let fallbacks = 0;
  for await (const request of deps.store.pendingFallbacks(deps.clock.now())) {
    if (request.fallbackAt === undefined) continue;
    await deps.scheduler.schedule(Math.max(request.fallbackAt, deps.clock.now()), channelFallbackEvent(request));
    fallbacks++;
  }
  if (fallbacks > 0) deps.logger.info('channel fallback timers set again from the store', { count: fallbacks });
  return count + fed + fallbacks;
};
