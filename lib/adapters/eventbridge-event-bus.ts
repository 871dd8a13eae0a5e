import {
  type EventBridgeClient,
  ListRulesCommand,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import { eventDetail } from '../events.ts';
import type { CibaEvent, EventBus, Logger } from '../ports.ts';
import { CIBA_EVENT_SOURCE } from './eventbridge-format.ts';
import { takenByAny } from './eventbridge-rules.ts';

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
  /**
   * `all` puts every event; `matched` (`ciba:events`' default) puts only those that an enabled rule on the bus may
   * take, from the bus's rules as `ListRules` gives them, read again after `rulesTtlMs`.
   */
  put?: EventsPut;
  rulesTtlMs?: number;
  now?: () => number;
  /** Told when the rules cannot be read (every event is then put until they are asked for again, a TTL later). */
  logger?: Pick<Logger, 'warn'>;
}

/** `ciba:events`: which lifecycle events are put on the bus. */
export const EVENTS_PUT = ['matched', 'all'] as const;
export type EventsPut = (typeof EVENTS_PUT)[number];
export const eventsPutOf = (value: string | undefined): EventsPut | undefined =>
  value === undefined || value === '' ? 'matched' : EVENTS_PUT.find((v) => v === value);

/** How long a function trusts the rules it read: a rule created on the bus gets events within this time. */
export const RULES_TTL_MS = 60_000;
/** ListRules pages read at most (100 rules each); a bus with more has every event put. */
const RULE_PAGES = 10;

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
  readonly #put: EventsPut;
  readonly #rulesTtlMs: number;
  readonly #now: () => number;
  readonly #logger?: Pick<Logger, 'warn'>;
  /** The enabled rules' patterns (undefined: put everything), and when they were asked for. */
  #rules?: { patterns: Promise<unknown[] | undefined>; at: number };

  constructor(options: EventBridgeEventBusOptions) {
    this.#client = options.client;
    this.#bus = options.eventBusName;
    this.#maxAttempts = options.maxAttempts ?? 3;
    this.#baseDelayMs = options.baseDelayMs ?? 50;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#random = options.random ?? Math.random;
    this.#put = options.put ?? 'all';
    this.#rulesTtlMs = options.rulesTtlMs ?? RULES_TTL_MS;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger;
  }

  async publish(events: CibaEvent[]): Promise<void> {
    let taken = events;
    if (this.#put === 'matched' && events.length > 0) {
      const patterns = await this.#patterns();
      if (patterns) taken = events.filter((event) => takenByAny(patterns, event));
    }
    const entries = taken.map((event) => this.#entry(event));
    for (let i = 0; i < entries.length; i += BATCH) await this.#putBatch(entries.slice(i, i + BATCH));
  }

  /** The enabled rules' event patterns, or undefined when they cannot be read (or are too many to read). */
  #patterns(): Promise<unknown[] | undefined> {
    const now = this.#now();
    // Concurrent publishes share one reading.
    if (!this.#rules || now - this.#rules.at >= this.#rulesTtlMs)
      this.#rules = { patterns: this.#readRules(), at: now };
    return this.#rules.patterns;
  }

  async #readRules(): Promise<unknown[] | undefined> {
    const patterns: unknown[] = [];
    try {
      let next: string | undefined;
      let pages = 0;
      do {
        const out = await this.#client.send(
          new ListRulesCommand({ EventBusName: this.#bus, ...(next ? { NextToken: next } : {}) }),
        );
        for (const rule of out.Rules ?? []) {
          // A disabled rule takes nothing; a rule without a pattern (a schedule) takes no put event.
          if (rule.State === 'DISABLED' || !rule.EventPattern) continue;
          patterns.push(JSON.parse(rule.EventPattern));
        }
        next = out.NextToken;
      } while (next && ++pages < RULE_PAGES);
      return next ? undefined : patterns;
    } catch (error) {
      // Every event is put until the rules are read again, a TTL later.
      this.#logger?.warn('event bus rules unreadable: every event is put', {
        bus: this.#bus,
        error: error instanceof Error ? error.message : String(error),
      });
      return undefined;
    }
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

  async #putBatch(batch: PutEventsRequestEntry[]): Promise<void> {
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
