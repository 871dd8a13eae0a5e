import { type EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { eventDetail } from '../events.ts';
import type { CibaEvent, EventBus } from '../ports.ts';
import { CIBA_EVENT_SOURCE } from './eventbridge-format.ts';

/** PutEvents accepts at most 10 entries per call. */
const BATCH = 10;

export interface EventBridgeEventBusOptions {
  client: EventBridgeClient;
  eventBusName: string;
  /** Calls per batch, the first included, before the failed entries are given up on. */
  maxAttempts?: number;
  /** Backoff before retry n (1-based): `baseDelayMs * 2^(n-1)`, with full jitter. */
  baseDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/**
 * CIBA lifecycle events on the customer's own EventBridge bus. PutEvents can succeed as a call and still
 * drop some entries (`FailedEntryCount`): only those are retried, with backoff, and the publish fails if
 * any remain after the last attempt.
 */
export class EventBridgeEventBus implements EventBus {
  readonly #client: EventBridgeClient;
  readonly #bus: string;
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;

  constructor(options: EventBridgeEventBusOptions) {
    this.#client = options.client;
    this.#bus = options.eventBusName;
    this.#maxAttempts = options.maxAttempts ?? 3;
    this.#baseDelayMs = options.baseDelayMs ?? 50;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#random = options.random ?? Math.random;
  }

  async publish(events: CibaEvent[]): Promise<void> {
    const entries = events.map((event) => this.#entry(event));
    for (let i = 0; i < entries.length; i += BATCH) await this.#put(entries.slice(i, i + BATCH));
  }

  #entry(event: CibaEvent): PutEventsRequestEntry {
    return {
      EventBusName: this.#bus,
      Source: CIBA_EVENT_SOURCE,
      DetailType: event.type,
      // The per-tenant rules match on detail.tenant_id: it always comes from the event, never from the detail.
      Detail: JSON.stringify(eventDetail(event)),
    };
  }

  async #put(batch: PutEventsRequestEntry[]): Promise<void> {
    let pending = batch;
    let errors: string[] = [];
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
      if (attempt > 1) await this.#sleep(Math.floor(this.#random() * this.#baseDelayMs * 2 ** (attempt - 2)));
      const out = await this.#client.send(new PutEventsCommand({ Entries: pending }));
      if (!out.FailedEntryCount) return;
      // Result entries are in request order; a failed one has an ErrorCode and no EventId.
      const results = out.Entries ?? [];
      const failed = pending.filter((_, i) => results[i]?.ErrorCode || !results[i]?.EventId);
      errors = results.filter((r) => r.ErrorCode).map((r) => r.ErrorCode!);
      pending = failed;
      if (pending.length === 0) return;
    }
    throw new Error(`EventBridge PutEvents failed for ${pending.length} event(s): ${[...new Set(errors)].join(', ')}`);
  }
}
