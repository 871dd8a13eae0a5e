import type { CibaEvent, Clock, Logger, Scheduler } from '../ports.ts';

/** setTimeout's ceiling (about 24.8 days); a later time is reached in several hops. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Local stand-in for EventBridge Scheduler: a timer per event that hands it to the target (the callback
 * handler, wired in app.ts). Timers do not keep the process alive and live in memory only: on start, the local
 * service sets again the timers its unfinished callbacks need, from the store (recover-timers.ts).
 */
export class LocalScheduler implements Scheduler {
  readonly #timers = new Set<NodeJS.Timeout>();
  #target: ((event: CibaEvent) => Promise<void>) | undefined;
  #stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Where due events go. */
  setTarget(target: (event: CibaEvent) => Promise<void>): void {
    this.#target = target;
  }

  async schedule(at: number, event: CibaEvent): Promise<void> {
    if (this.#stopped) {
      // As with any timer here, the event does not outlive the server.
      this.logger.warn('scheduled event dropped: the server is stopping', { type: event.type, tenant: event.tenantId });
      return;
    }
    const delay = Math.max(0, at - this.clock.now());
    const timer = setTimeout(
      () => {
        this.#timers.delete(timer);
        if (delay > MAX_TIMEOUT_MS) {
          void this.schedule(at, event);
          return;
        }
        this.#target?.(event).catch((error: unknown) =>
          this.logger.error('scheduled event failed', { type: event.type, tenant: event.tenantId, error }),
        );
      },
      Math.min(delay, MAX_TIMEOUT_MS),
    );
    timer.unref();
    this.#timers.add(timer);
  }

  /** Cancels every pending timer and schedules no more (server shutdown). */
  stop(): void {
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}
