/**
 * The work a local service has under way (API requests, decisions waiting for their event, callback deliveries), so that stopping it lets that work
 * finish before the store closes: a request cut off mid-way would lose its write, and dynalite throws on a write to
 * a closed database.
 */
export class InFlight {
  readonly #running = new Set<Promise<unknown>>();

  /** Wraps a function so that every call is counted until its promise settles. */
  wrap<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
    return (...args) => this.add(fn(...args));
  }

  /** Counts work already started until its promise settles. */
  add<R>(running: Promise<R>): Promise<R> {
    this.#running.add(running);
    const forget = () => this.#running.delete(running);
    running.then(forget, forget);
    return running;
  }

  get size(): number {
    return this.#running.size;
  }

  /**
   * Resolves once nothing runs, also work that the running work starts on a later turn of the event loop (the local
   * bus hands events to its subscribers with setImmediate), or at `deadline` (epoch ms): true when idle.
   */
  async settled(deadline: number): Promise<boolean> {
    for (;;) {
      // Let work queued for the next turn start before looking.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.#running.size === 0) return true;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.#running]),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, left);
        }),
      ]);
      clearTimeout(timer);
    }
  }
}
