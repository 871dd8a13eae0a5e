import { describe, expect, it } from 'vitest';
import type { IndexSchema, TableSchema } from '../../../lib/adapters/dynamodb-schema.ts';
import { callbackRulePattern } from '../../../lib/adapters/eventbridge-format.ts';
import type { CibaEvent, EventBus } from '../../../lib/ports.ts';
import {
  CriticalPath,
  endpointOf,
  indexWriteUnits,
  itemSize,
  meterEventBus,
  RoundTripMeter,
  type WireItem,
} from '../../bench/aws-terms.ts';

/** A call that ends when the test says so. */
const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
};

describe('benchmark: round trips on a critical path', () => {
  it('counts calls one after another as one round trip each', () => {
    const path = new CriticalPath();
    path.start()();
    path.start()();
    path.start()();
    expect(path).toMatchObject({ roundTrips: 3, calls: 3 });
  });

  it('counts calls that overlap once, and a call after them as the next round trip', () => {
    const path = new CriticalPath();
    const a = path.start();
    const b = path.start(); // started while a is in flight
    a();
    const c = path.start(); // b is still in flight: rides on the same round trip
    b();
    c();
    expect(path.roundTrips).toBe(1);
    path.start()();
    expect(path).toMatchObject({ roundTrips: 2, calls: 4 });
  });

  it('ends a call once even when its end is called twice', () => {
    const path = new CriticalPath();
    const a = path.start();
    const b = path.start();
    a();
    a(); // must not end b as well
    path.start()(); // b is in flight: same round trip
    b();
    expect(path.roundTrips).toBe(1);
  });

  it('files the calls of concurrent requests under their own request (AsyncLocalStorage)', async () => {
    const meter = new RoundTripMeter();
    const call = (service: string) => meter.call(service, () => Promise.resolve());
    const sequential = async () => {
      const path = meter.begin();
      await call('DynamoDB');
      await call('DynamoDB');
      await call('EventBridge');
      meter.end(path, 'three');
    };
    const parallel = async () => {
      const path = meter.begin();
      const gate = deferred();
      const slow = meter.call('DynamoDB', () => gate.promise);
      const fast = call('SNS');
      await fast;
      gate.resolve();
      await slow;
      await Promise.all([call('DynamoDB'), call('EventBridge')]);
      meter.end(path, 'two');
    };
    await call('DynamoDB'); // outside any request: counted by service, on no endpoint
    await Promise.all([sequential(), parallel(), sequential()]);
    expect(meter.endpoints).toEqual({
      three: { requests: 2, roundTrips: 6, calls: 6 },
      two: { requests: 1, roundTrips: 2, calls: 4 },
    });
    expect(meter.services).toEqual({ DynamoDB: 7, EventBridge: 3, SNS: 1 });
  });

  it("files an invocation that a request's event starts on a path of its own, not on the request's", async () => {
    const meter = new RoundTripMeter();
    const call = (service: string) => meter.call(service, () => Promise.resolve());
    let invoked!: Promise<void>;
    const decision = async () => {
      const path = meter.begin();
      await call('DynamoDB');
      // The bus starts the callback function after publishing, in the publishing request's async context.
      await meter.call('EventBridge', async () => {
        invoked = new Promise((resolve) =>
          setImmediate(() =>
            meter
              .invocation('callback', 'Lambda callback', async () => {
                await call('DynamoDB');
                await call('Client endpoint');
                await call('DynamoDB');
              })
              .then(resolve),
          ),
        );
      });
      meter.end(path, 'device decision');
    };
    await decision();
    await invoked;
    expect(meter.endpoints).toEqual({
      'device decision': { requests: 1, roundTrips: 2, calls: 2 },
      callback: { requests: 1, roundTrips: 3, calls: 3 },
    });
    expect(meter.services).toEqual({ DynamoDB: 3, EventBridge: 1, 'Lambda callback': 1, 'Client endpoint': 1 });
  });

  it('meters a publish as an EventBridge call only when a rule on the bus may take one of its events; every event as a lifecycle event', async () => {
    const meter = new RoundTripMeter();
    const delivered: string[] = [];
    const bus: EventBus = {
      publish: async (events) => {
        for (const e of events) delivered.push(e.type);
      },
    };
    meterEventBus(meter, bus, [callbackRulePattern()]);
    const decided = (mode: string): CibaEvent => ({
      type: 'CIBA Request Decided',
      tenantId: 'acme',
      detail: { txn: mode, status: 'approved', delivery_mode: mode },
    });
    const path = meter.begin();
    await bus.publish([{ type: 'CIBA Request Created', tenantId: 'acme', detail: { delivery_mode: 'ping' } }]);
    await bus.publish([decided('poll')]);
    await bus.publish([decided('ping')]);
    meter.end(path, 'steps');
    // The local bus delivers every event; one publish was a call (and a round trip).
    expect(delivered).toEqual(['CIBA Request Created', 'CIBA Request Decided', 'CIBA Request Decided']);
    expect(meter.services).toEqual({ EventBridge: 1 });
    expect(meter.endpoints.steps).toEqual({ requests: 1, roundTrips: 1, calls: 1 });
    expect(meter.lifecycleEvents).toBe(3);

    const all = new RoundTripMeter();
    meterEventBus(all, bus, undefined);
    await bus.publish([decided('poll')]);
    expect(all.services).toEqual({ EventBridge: 1 });
  });

  it('names the benchmark endpoints', () => {
    expect(endpointOf('POST', '/acme/bc-authorize', 200)).toBe('bc-authorize');
    expect(endpointOf('POST', '/acme/oauth/token', 400)).toBe('token pending');
    expect(endpointOf('POST', '/acme/oauth/token', 200)).toBe('token redeem');
    expect(endpointOf('GET', '/acme/device/transactions', 200)).toBe('device list');
    expect(endpointOf('POST', '/acme/device/transactions/x/decision', 200)).toBe('device decision');
  });
});

describe('benchmark: index writes', () => {
  const table: TableSchema = { partitionKey: 'pk', indexes: [] };
  const all: IndexSchema = { name: 'i', partitionKey: 'k', sortKey: { name: 'c', type: 'N' }, projection: 'ALL' };
  const include: IndexSchema = { ...all, projection: 'INCLUDE', nonKeyAttributes: ['status'] };
  const keysOnly: IndexSchema = { ...all, projection: 'KEYS_ONLY' };
  const request: WireItem = { pk: { S: 'REQ#1' }, k: { S: 't#u' }, c: { N: '5' }, status: { S: 'pending' } };
  const polled: WireItem = { ...request, last_polled_at: { N: '1700000000000' } };
  const decided: WireItem = { pk: { S: 'REQ#1' }, c: { N: '5' }, status: { S: 'approved' } };

  it('sizes items as DynamoDB bills them: names and values', () => {
    expect(itemSize({ pk: { S: 'REQ#1' } })).toBe(2 + 5);
    expect(itemSize({ n: { N: '12345' } })).toBe(1 + 4);
    expect(itemSize({ m: { M: { a: { BOOL: true } } } })).toBe(1 + 3 + 1 + 1 + 1);
  });

  it('charges an item entering and leaving the index, whatever the projection', () => {
    for (const index of [all, include, keysOnly]) {
      expect(indexWriteUnits(table, index, undefined, request)).toBe(1);
      expect(indexWriteUnits(table, index, polled, decided)).toBe(1);
      expect(indexWriteUnits(table, index, undefined, decided)).toBe(0);
    }
  });

  it('charges an update of a projected attribute, and nothing for one the index does not hold', () => {
    expect(indexWriteUnits(table, all, request, polled)).toBe(1);
    expect(indexWriteUnits(table, include, request, polled)).toBe(0);
    expect(indexWriteUnits(table, keysOnly, request, polled)).toBe(0);
    expect(indexWriteUnits(table, include, request, { ...request, status: { S: 'x' } })).toBe(1);
    expect(indexWriteUnits(table, all, request, request)).toBe(0); // a failed condition changes nothing
  });

  it('charges a delete and a put when the index key changes, by the KB', () => {
    const moved = { ...request, k: { S: 't#v' } };
    expect(indexWriteUnits(table, all, request, moved)).toBe(2);
    const big = { ...request, blob: { S: 'x'.repeat(1500) } };
    expect(indexWriteUnits(table, all, undefined, big)).toBe(2);
    expect(indexWriteUnits(table, keysOnly, undefined, big)).toBe(1);
  });
});
