import { timerIdentity } from '../events.ts';
import type { CibaEvent, Clock, Logger, Scheduler } from '../ports.ts';

/** setTimeout's ceiling (about 24.8 days); a later time is reached in several hops. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Local stand-in for EventBridge Scheduler: a timer per event that hands it to the target (the callback
 * handler, wired in app.ts). Timers do not keep the process alive and live in memory only: on start, the local
 * service sets again the timers its unfinished callbacks need, from the store (recover-timers.ts).
 */
export class LocalScheduler implements Scheduler {
  /** The pending timers by the identity of their event (lib/events.ts timerIdentity). */
  readonly #timers = new Map<string, Set<NodeJS.Timeout>>();
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
    const key = timerIdentity(event);
    const timer = setTimeout(
      () => {
        this.#forget(key, timer);
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
    const same = this.#timers.get(key) ?? new Set();
    same.add(timer);
    this.#timers.set(key, same);
  }

  async cancel(event: CibaEvent): Promise<boolean> {
    const key = timerIdentity(event);
    const same = this.#timers.get(key);
    if (!same) return false;
    for (const timer of same) clearTimeout(timer);
    this.#timers.delete(key);
    return true;
  }

  #forget(key: string, timer: NodeJS.Timeout): void {
    const same = this.#timers.get(key);
    same?.delete(timer);
    if (same?.size === 0) this.#timers.delete(key);
  }

  /** Cancels every pending timer and schedules no more (server shutdown). */
  stop(): void {
    this.#stopped = true;
    for (const same of this.#timers.values()) for (const timer of same) clearTimeout(timer);
    this.#timers.clear();
  }
}
