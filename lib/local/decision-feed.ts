import type { DecidedStatus } from '../events.ts';
import type { AuthRequest } from '../model.ts';
import type { DecisionStore } from '../persistence.ts';
import type { Logger } from '../ports.ts';

/** A decision the store took: the request after it, what it became and when. */
export interface StoredDecision {
  request: AuthRequest;
  status: DecidedStatus;
  decidedAt: number;
}

/**
 * Local mode's stand-in for the table's DynamoDB stream (docs/events.md): the decisions the store took, in the order
 * it took them, handed one at a time to `publish` (lib/ciba/publish-decision.ts, which puts `CIBA Request Decided` on
 * the bus), off the path of the request that decided. As in AWS, where the stream's consumer is a function of its own,
 * the loop runs in the asynchronous context it was started in (the service's start), never in a request's: the
 * continuation after each wait is registered by the loop, so a request's AsyncLocalStorage (the benchmark's meter of
 * its round trips) never sees the publish.
 *
 * A publish that fails is logged with the decision (the request's callback is then started at the next restart:
 * lib/local/recover-timers.ts) and the loop goes on with the next one.
 */
export class DecisionFeed {
  readonly #queue: { decision: StoredDecision; done: () => void }[] = [];
  #wake: (() => void) | undefined;
  #running = false;
  #closed = false;

  constructor(
    private readonly publish: (decision: StoredDecision) => Promise<void>,
    private readonly logger: Logger,
  ) {}

  /** Starts the loop in the caller's asynchronous context (call it where the service starts, not in a request). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#drain();
  }

  /**
   * Queues a decision for publishing; the promise resolves once it is handed over (published, or its failure
   * logged): never rejects. The service counts it as work under way, so stop() lets the queue drain.
   */
  push(decision: StoredDecision): Promise<void> {
    if (this.#closed) {
      this.logger.error('decision not published: the service is stopping', {
        tenant: decision.request.tenantId,
        txn: decision.request.txn,
        status: decision.status,
      });
      return Promise.resolve();
    }
    return new Promise<void>((done) => {
      this.#queue.push({ decision, done });
      const wake = this.#wake;
      this.#wake = undefined;
      wake?.();
    });
  }

  get size(): number {
    return this.#queue.length;
  }

  /** Ends the loop once the queue is empty; what is pushed afterwards is logged, not published. */
  close(): void {
    this.#closed = true;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #drain(): Promise<void> {
    for (;;) {
      const next = this.#queue.shift();
      if (next) {
        await this.#handOver(next.decision);
        next.done();
        continue;
      }
      if (this.#closed) return;
      // Registered here, in the loop's context: the request that resolves it does not lend its context to what follows.
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  async #handOver(decision: StoredDecision): Promise<void> {
    try {
      await this.publish(decision);
    } catch (error) {
      this.logger.error('decision event could not be published', {
        tenant: decision.request.tenantId,
        txn: decision.request.txn,
        status: decision.status,
        delivery_mode: decision.request.deliveryMode,
        error,
      });
    }
  }
}

/**
 * The decision store with the feed behind it: every decision it takes is handed to `decided` after its write
 * succeeded (a conflict took nothing, so it hands over nothing).
 */
export const withDecisionFeed = (
  decisions: DecisionStore,
  decided: (decision: StoredDecision) => void,
): DecisionStore => ({
  decide: async (txn, owner, status, evidence, now) => {
    const result = await decisions.decide(txn, owner, status, evidence, now);
    if (result !== 'conflict') decided({ request: result, status, decidedAt: now });
    return result;
  },
  countBindingCodeMismatch: (txn, owner, now) => decisions.countBindingCodeMismatch(txn, owner, now),
});
