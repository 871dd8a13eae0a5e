/**
 * The harness clock: real time plus an offset that tests move forward, shared (SharedArrayBuffer) with every Lambda
 * worker, whose `Date` follows it (test/aws/lambda-worker.mjs), and with this thread's `Date` while a cloud runs. Timed
 * work of the fake services (a schedule's time, EventBridge's and Lambda's retry backoff) is queued on it and runs
 * when the clock reaches it: tests never sleep, they `advance`.
 */
export class HarnessClock {
  readonly buffer = new SharedArrayBuffer(8);
  readonly #offset = new Float64Array(this.buffer);
  readonly #realNow: () => number;
  #timers: { at: number; seq: number; label: string; run: () => Promise<void> }[] = [];
  #seq = 0;

  constructor(realNow: () => number = Date.now) {
    this.#realNow = realNow;
  }

  now(): number {
    return this.#realNow() + this.#offset[0]!;
  }

  /** Queues `run` for when the clock reaches `at` (epoch ms). */
  at(at: number, label: string, run: () => Promise<void>): void {
    this.#timers.push({ at, seq: this.#seq++, label, run });
  }

  /** What is queued, soonest first (for assertions and failure messages). */
  pending(): { at: number; label: string }[] {
    return [...this.#timers].sort((a, b) => a.at - b.at || a.seq - b.seq).map(({ at, label }) => ({ at, label }));
  }

  /** Moves the clock forward by `ms`, running what falls due in time order (each sees the clock at its own time). */
  async advance(ms: number): Promise<void> {
    const target = this.now() + ms;
    for (;;) {
      const next = [...this.#timers].sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!next || next.at > target) break;
      if (next.at > this.now()) this.#offset[0] = this.#offset[0]! + (next.at - this.now());
      this.#timers = this.#timers.filter((t) => t !== next);
      await next.run();
    }
    if (target > this.now()) this.#offset[0] = this.#offset[0]! + (target - this.now());
  }

  /** Runs what is due now, and what that makes due now, without moving the clock. */
  async runDue(): Promise<void> {
    await this.advance(0);
  }
}

/** Makes this thread's `Date` follow the harness clock; returns the function that restores it. */
export const followClock = (clock: HarnessClock): (() => void) => {
  const RealDate = globalThis.Date;
  const realNow = RealDate.now.bind(RealDate);
  const offset = new Float64Array(clock.buffer);
  class HarnessDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(realNow() + offset[0]!);
      else super(...(args as [string]));
    }
    static override now(): number {
      return realNow() + offset[0]!;
    }
  }
  globalThis.Date = HarnessDate as DateConstructor;
  return () => {
    globalThis.Date = RealDate;
  };
};
