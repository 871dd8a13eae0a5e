/**
 * What a flow costs in AWS terms, measured inside the benchmark's server process (test/bench/serve.ts), never in the
 * service: round trips on each endpoint's critical path, AWS calls by service, and DynamoDB write units including the
 * global secondary indexes' writes (dynalite reports the table's units only). docs/performance.md explains the method.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IndexSchema, TableSchema } from '../../lib/adapters/dynamodb-schema.ts';
import { takenByAny } from '../../lib/adapters/eventbridge-rules.ts';
import type { EventBus } from '../../lib/ports.ts';

/**
 * Round trips on one request's critical path: calls that overlap in time count once. A round trip starts when a call
 * starts while none is in flight; calls started while one is in flight ride on it (`Promise.all` of two calls is one
 * round trip, two awaited one after the other are two).
 */
export class CriticalPath {
  #inFlight = 0;
  roundTrips = 0;
  calls = 0;

  /** A call starts; the returned function ends it (once, even if called twice). */
  start(): () => void {
    if (this.#inFlight === 0) this.roundTrips++;
    this.#inFlight++;
    this.calls++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#inFlight--;
    };
  }
}

/** The service name under which the meter counts the callback function's invocations (Lambda requests, not API ones). */
export const CALLBACK_INVOCATION = 'Lambda callback';
/**
 * The service name under which the meter counts the table stream consumer's invocations (functions/events: one per
 * decided request, which publishes its `Request Decided` event; locally the decision feed, lib/local/decision-feed.ts).
 */
export const STREAM_INVOCATION = 'Lambda stream';
/** The critical paths of invocations that no HTTP request makes, by function: their Lambda service names. */
export const INVOCATIONS = { callback: CALLBACK_INVOCATION, stream: STREAM_INVOCATION } as const;
/**
 * DeleteSchedule calls (the callback function's withdrawal of a decided push request's expiry timer), apart from
 * `Scheduler` (CreateSchedule): Scheduler bills a schedule's invocation, and a deleted schedule never runs.
 */
export const SCHEDULER_DELETE = 'Scheduler delete';
/** The callback's outbound call to the client's notification endpoint: a round trip on its path, not an AWS call. */
export const CLIENT_ENDPOINT = 'Client endpoint';

/** The benchmark's endpoints, by path, method and status (a token poll answers 200 only when it redeems). */
export const endpointOf = (method: string, path: string, status: number): string => {
  if (path.endsWith('/bc-authorize')) return 'bc-authorize';
  if (path.endsWith('/oauth/token')) return status === 200 ? 'token redeem' : 'token pending';
  if (path.includes('/device/')) return method === 'GET' ? 'device list' : 'device decision';
  return `${method} ${path.replace(/^\/[^/]+/, '')}`;
};

/**
 * Per-request accounting: `begin` opens a request's context (an AsyncLocalStorage store, so every call the request
 * makes, however deep, lands on it), `call` wraps one store or AWS call, `end` files the request under its endpoint.
 * Calls made outside any request (timers, the sweep) count by service but on no endpoint.
 */
export class RoundTripMeter {
  readonly #als = new AsyncLocalStorage<CriticalPath>();
  /** Per endpoint: requests seen, and the sum of their round trips and calls. */
  readonly endpoints: Record<string, { requests: number; roundTrips: number; calls: number }> = {};
  /** Calls by service (`DynamoDB`, `EventBridge`, `SNS`, ...). */
  readonly services: Record<string, number> = {};
  /** Lifecycle events published, put on the bus or not (each is a metric's log line). */
  lifecycleEvents = 0;

  /** Opens a request's context for the rest of the current execution and what it starts (`enterWith`). */
  begin(): CriticalPath {
    const path = new CriticalPath();
    this.#als.enterWith(path);
    return path;
  }

  end(path: CriticalPath, endpoint: string): void {
    this.endpoints[endpoint] ??= { requests: 0, roundTrips: 0, calls: 0 };
    const e = this.endpoints[endpoint];
    e.requests++;
    e.roundTrips += path.roundTrips;
    e.calls += path.calls;
  }

  /**
   * An invocation that no HTTP request makes (the callback function, invoked by the event bus's rule or the
   * scheduler; the stream consumer, invoked by the table's stream): a call of `service` (Lambda's request), run on a
   * critical path of its own, detached from the request that caused it, and filed under `endpoint` when it ends.
   */
  async invocation<T>(endpoint: string, service: string, run: () => Promise<T>): Promise<T> {
    this.services[service] = (this.services[service] ?? 0) + 1;
    const path = new CriticalPath();
    try {
      return await this.#als.run(path, run);
    } finally {
      this.end(path, endpoint);
    }
  }

  async call<T>(service: string, fn: () => Promise<T>): Promise<T> {
    this.services[service] = (this.services[service] ?? 0) + 1;
    const end = this.#als.getStore()?.start();
    try {
      return await fn();
    } finally {
      end?.();
    }
  }

  snapshot() {
    return {
      endpoints: structuredClone(this.endpoints),
      services: { ...this.services },
      lifecycleEvents: this.lifecycleEvents,
    };
  }
}

/**
 * Meters the event bus as EventBridge: a publish counts as a call only when a rule on the bus may take one of its
 * events (`rules`: the bus's patterns, as the AWS adapter reads them with `ciba:events` `matched`); every publish when
 * `rules` is undefined (`ciba:events=all`). The local bus still delivers every event either way.
 */
export const meterEventBus = (meter: RoundTripMeter, bus: EventBus, rules: readonly unknown[] | undefined) => {
  const publish = bus.publish.bind(bus);
  bus.publish = (events) => {
    meter.lifecycleEvents += events.length;
    return rules && !events.some((event) => takenByAny(rules, event))
      ? publish(events)
      : meter.call('EventBridge', () => publish(events));
  };
};

/** Wraps the listed methods of a port so that each call goes through `meter.call(service, …)`. */
export const meterPort = <T extends object>(meter: RoundTripMeter, service: string, port: T, methods: (keyof T)[]) => {
  for (const name of methods) {
    const original = port[name] as unknown as (...args: unknown[]) => Promise<unknown>;
    if (typeof original !== 'function') continue;
    (port as Record<keyof T, unknown>)[name] = (...args: unknown[]) =>
      meter.call(service, () => original.apply(port, args));
  }
};

// DynamoDB item sizes and index writes

/** An item in DynamoDB's wire format (AttributeValue maps). */
export type WireItem = Record<string, WireValue>;
export type WireValue = {
  S?: string;
  N?: string;
  B?: Uint8Array | string;
  BOOL?: boolean;
  NULL?: boolean;
  L?: WireValue[];
  M?: WireItem;
  SS?: string[];
  NS?: string[];
  BS?: (Uint8Array | string)[];
};

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');
const binary = (b: Uint8Array | string) => (typeof b === 'string' ? Buffer.from(b, 'base64').length : b.length);
/** A number's size: about one byte per two significant digits, plus one (DynamoDB's published rule). */
const numberSize = (n: string) => {
  const digits = n
    .replace(/^[-+]?/, '')
    .replace(/[eE].*$/, '')
    .replace('.', '')
    .replace(/^0+/, '')
    .replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
};

export const valueSize = (v: WireValue): number => {
  if (v.S !== undefined) return utf8(v.S);
  if (v.N !== undefined) return numberSize(v.N);
  if (v.B !== undefined) return binary(v.B);
  if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
  if (v.SS) return v.SS.reduce((sum, s) => sum + utf8(s), 0);
  if (v.NS) return v.NS.reduce((sum, n) => sum + numberSize(n), 0);
  if (v.BS) return v.BS.reduce((sum, b) => sum + binary(b), 0);
  if (v.L) return 3 + v.L.reduce((sum, e) => sum + 1 + valueSize(e), 0);
  if (v.M) return 3 + Object.entries(v.M).reduce((sum, [k, e]) => sum + 1 + utf8(k) + valueSize(e), 0);
  return 0;
};

/** An item's size as DynamoDB bills it: attribute names plus values. */
export const itemSize = (item: WireItem): number =>
  Object.entries(item).reduce((sum, [name, value]) => sum + utf8(name) + valueSize(value), 0);

/** Write units of writing an item of this size: 1 per KB, at least 1. */
export const writeUnits = (size: number) => Math.max(1, Math.ceil(size / 1024));

const projected = (table: TableSchema, index: IndexSchema, item: WireItem): WireItem => {
  if (index.projection === 'ALL') return item;
  const names = new Set([
    table.partitionKey,
    ...(table.sortKey ? [table.sortKey] : []),
    index.partitionKey,
    ...(index.sortKey ? [index.sortKey.name] : []),
    ...(index.projection === 'INCLUDE' ? (index.nonKeyAttributes ?? []) : []),
  ]);
  return Object.fromEntries(Object.entries(item).filter(([name]) => names.has(name)));
};

const same = (a: WireValue | undefined, b: WireValue | undefined) => JSON.stringify(a) === JSON.stringify(b);
const keyOf = (index: IndexSchema, item: WireItem | undefined) =>
  item?.[index.partitionKey] !== undefined && (!index.sortKey || item[index.sortKey.name] !== undefined)
    ? JSON.stringify([item[index.partitionKey], index.sortKey ? item[index.sortKey.name] : null])
    : undefined;

/**
 * The write units a base-table write costs in one global secondary index, from the item before and after it
 * (DynamoDB's rules, "Provisioned throughput considerations for Global Secondary Indexes"): an item entering the
 * index is one put, leaving it one delete, changing its index key a delete and a put, changing a projected attribute
 * an update; a write that changes nothing projected writes nothing to the index.
 */
export const indexWriteUnits = (
  table: TableSchema,
  index: IndexSchema,
  before: WireItem | undefined,
  after: WireItem | undefined,
): number => {
  const oldKey = keyOf(index, before);
  const newKey = keyOf(index, after);
  const oldView = oldKey ? projected(table, index, before!) : undefined;
  const newView = newKey ? projected(table, index, after!) : undefined;
  if (!oldView && !newView) return 0;
  if (!oldView) return writeUnits(itemSize(newView!));
  if (!newView) return writeUnits(itemSize(oldView));
  if (oldKey !== newKey) return writeUnits(itemSize(oldView)) + writeUnits(itemSize(newView));
  const names = new Set([...Object.keys(oldView), ...Object.keys(newView)]);
  for (const name of names) {
    if (!same(oldView[name], newView[name])) return writeUnits(Math.max(itemSize(oldView), itemSize(newView)));
  }
  return 0;
};
