import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RULES_TTL_MS } from '../../lib/adapters/eventbridge-event-bus.ts';
import { SETTINGS_TTL_MS } from '../../lib/cache.ts';
import { ADMISSION_SHARDS } from '../../lib/ciba/tenant-admission.ts';
import type { DeviceClient } from '../../lib/device/index.ts';
import { CriticalPath } from '../bench/aws-terms.ts';
import { ASSUMPTIONS, costFields, type FlowFigures } from '../bench/cost-model.ts';
import { CIBA_GRANT, decidedEvents, operatorRule, pushedTxn, Receiver, type Shape, startShape } from './harness.ts';

/**
 * How long each fake holds its answers in the measured flows: calls a function makes side by side then overlap at the
 * fakes even when the machine is busy (they leave the function within a millisecond of each other), and calls made one
 * after the other never do, whatever the value (the next leaves only once the answer has come back).
 */
const LATENCY_MS = 50;

/** The fields Powertools' logger writes on every line besides the message and the line's own fields. */
const ENVELOPE = new Set([
  'level',
  'timestamp',
  'service',
  'cold_start',
  'function_arn',
  'function_memory_size',
  'function_name',
  'function_request_id',
  'sampling_rate',
  'xray_trace_id',
  'tenant_id',
]);

/** What the harness saw of one measured flow. */
interface Measured {
  /** Each step's successful calls by service, and the round trips on its path. */
  steps: Record<string, Record<string, number>>;
  trips: Record<string, number>;
  units: { table: number; indexes: number; failed: number; reads: number };
  logs: { access: string[]; metrics: string[]; app: Record<string, unknown>[] };
  /** The flow's invocations (API requests, the stream's consumer, the callback function). */
  invocations: { kind: string; activeMs?: number }[];
  /** POSTs to the client's notification endpoint. */
  clientCalls: number;
}

/** An application line's message and own fields, as the benchmark counts a line's bytes (test/bench/serve.ts). */
const ownBytes = (line: Record<string, unknown>) =>
  Buffer.byteLength(JSON.stringify(Object.fromEntries(Object.entries(line).filter(([key]) => !ENVELOPE.has(key)))));

/**
 * A measured flow in the benchmark's terms (the fields of `npm run bench`'s JSON, test/bench/bench.ts): the cost model
 * (test/bench/cost-model.ts) fed by what the deployed functions did instead of by local mode. The functions' CPU is
 * their threads' busy time here (`activeMs`: functions warmed by a few flows only, on a machine that also runs the
 * fakes, so an upper bound of a warm function's). The template's `pending-by-user` index is projected `ALL` (the
 * deployment's default). `AWS_SHAPE_FIGURES=DIR` writes them to `DIR/{flow}.json`.
 */
const figuresOf = (flow: string, m: Measured) => {
  const total = (service: string) => Object.values(m.steps).reduce((sum, calls) => sum + (calls[service] ?? 0), 0);
  const figures: FlowFigures = {
    httpRequests: m.logs.access.length,
    eventInvocations: m.invocations.filter((i) => i.kind === 'async').length,
    streamInvocations: m.invocations.filter((i) => i.kind === 'stream').length,
    roundTrips: Object.values(m.trips).reduce((sum, n) => sum + n, 0) + m.clientCalls,
    clientCalls: m.clientCalls,
    cpuMs: m.invocations.reduce((sum, i) => sum + (i.activeMs ?? 0), 0),
    writeUnits: m.units.table + m.units.indexes + m.units.failed,
    readUnits: m.units.reads,
    awsCalls: {
      KMS: total('kms'),
      SNS: total('sns'),
      EventBridge: total('events'),
      Scheduler: total('scheduler'),
      'Scheduler delete': total('scheduler delete'),
    },
    lifecycleEvents: m.logs.metrics.length,
    logLines: m.logs.app.length,
    logBytes: m.logs.app.reduce((sum, line) => sum + ownBytes(line), 0),
  };
  const report = {
    flow,
    source: 'the AWS-shape harness: the deployed bundles, one warm flow (test/aws/flow-calls.test.ts)',
    pending_index_projection: 'ALL',
    round_trips: m.trips,
    http_requests_per_flow: figures.httpRequests,
    event_invocations_per_flow: figures.eventInvocations,
    stream_invocations_per_flow: figures.streamInvocations,
    client_endpoint_calls_per_flow: m.clientCalls,
    store_requests_per_flow: total('dynamodb'),
    write_units_per_flow: figures.writeUnits,
    write_units_breakdown: { table: m.units.table, indexes: m.units.indexes, failed_conditions: m.units.failed },
    read_units_per_flow: figures.readUnits,
    aws_calls_per_flow: {
      ...figures.awsCalls,
      DynamoDB: total('dynamodb'),
      'Lambda stream': figures.streamInvocations,
      'Lambda callback': figures.eventInvocations,
    },
    lifecycle_events_per_flow: figures.lifecycleEvents,
    log_bytes_per_flow: figures.logBytes,
    function_busy_ms_per_flow: Number(figures.cpuMs.toFixed(2)),
    ...costFields(figures),
  };
  const dir = process.env.AWS_SHAPE_FIGURES;
  if (dir) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${flow}.json`), `${JSON.stringify(report, null, 2)}\n`);
  }
  return report;
};

/**
 * The benchmark's device-shape flow (docs/performance.md "AWS terms per flow") on the AWS shape, warm, with a wrapped
 * key and one push: the AWS calls the deployed bundles make per step are the ones `npm run bench` counts in local
 * mode (`aws_calls_per_flow`: DynamoDB 9, SNS 1, KMS 0, and EventBridge 0: no rule on the bus takes a poll request's
 * events; 3 with an operator's rule that takes every event, `--events all`), on the round trips it counts
 * (`round_trips`, counted from the calls' spans at the fakes), with the write units and the log lines the cost model
 * prices, so the cost model is fed by what the deployed code does. The ping flow (`npm run bench -- --mode ping`) likewise: DynamoDB 10, SNS 1, EventBridge 1 (the
 * `Request Decided` event the deployment's own rule takes), and one invocation of the callback function by that rule.
 * A function reads the bus's rules once a minute (`ListRules`, an `events` call): each test lets that minute pass
 * before its warm-up flow, so the measured flows read none. The decision's `Request Decided` event is put by the
 * events function, which the ledger stream's mapping invokes once per decision, off the decision's path: the
 * decision's own calls are its two DynamoDB requests (the device's strongly consistent read, the decision's conditional write). The mapping's stream reads are
 * Lambda's, free for a Lambda trigger, and not table requests: they are not counted.
 */
describe('the benchmark flow on the AWS shape: AWS calls per step', () => {
  let shape: Shape;
  let registered: { client_id: string; client_secret: string };
  let device: DeviceClient;

  beforeAll(async () => {
    shape = await startShape();
    registered = await shape.registerClient('acme');
    device = await shape.enrolledDevice('acme', 'alice', { type: 'fcm', token: 'fcm-alice' });
  }, 300_000);
  afterAll(() => shape?.stop());
  afterEach(() => shape.cloud.expectNoDenials());

  const form = (path: string, params: Record<string, string>, creds = registered) =>
    fetch(`${shape.issuer('acme')}${path}`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        Authorization: `Basic ${Buffer.from(`${creds.client_id}:${creds.client_secret}`).toString('base64')}`,
      },
      body: new URLSearchParams(params).toString(),
    });

  /**
   * Successful calls by service (`dynamodb: 3`...), Scheduler's deletions apart (`scheduler delete`: a schedule deleted
   * never runs, and the cost model prices the schedules that run, as the benchmark's `Scheduler delete`). The fakes
   * record `iam:PassRole` when a schedule names its role: IAM's check of the caller inside Scheduler's answer, not a
   * call of its own.
   */
  const countOf = (calls: typeof shape.cloud.calls): Record<string, number> => {
    const counts: Record<string, number> = {};
    for (const c of calls) {
      if (c.action === 'iam:PassRole') continue;
      const key = c.action === 'scheduler:DeleteSchedule' ? 'scheduler delete' : c.service;
      if (c.outcome === 'ok') counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  };

  /**
   * Round trips on one path (a function's invocation): its calls counted as the benchmark counts them
   * (`CriticalPath`), those whose spans at the fakes overlap once. Meaningful with `latencyMs` set.
   */
  const roundTripsOf = (calls: typeof shape.cloud.calls): number => {
    const path = new CriticalPath();
    const ends: (() => void)[] = [];
    const events = calls
      .filter((c) => c.started !== undefined && c.ended !== undefined)
      .flatMap((c, i) => [
        { at: c.started!, i, starts: true },
        { at: c.ended!, i, starts: false },
      ])
      // At the same instant an answer comes before a start: calls one after the other.
      .sort((a, b) => a.at - b.at || Number(a.starts) - Number(b.starts));
    for (const e of events) {
      if (e.starts) ends[e.i] = path.start();
      else ends[e.i]?.();
    }
    return path.roundTrips;
  };

  /** The successful AWS calls a step makes, by service; `trips` gets its round trips. */
  const callsOf = async (
    step: () => Promise<unknown>,
    trips?: (n: number) => void,
  ): Promise<Record<string, number>> => {
    const start = shape.cloud.calls.length;
    await step();
    const made = shape.cloud.calls.slice(start);
    trips?.(roundTripsOf(made));
    return countOf(made);
  };

  /**
   * The same, with each function of `fns` (which a stream record or an event invokes after the step's answer) counted
   * apart: its invocation (`lambda`, by a rule) and the calls it makes.
   */
  const callsSplit = async (step: () => Promise<unknown>, fns: string[]) => {
    const start = shape.cloud.calls.length;
    await step();
    const made = shape.cloud.calls.slice(start);
    const ofFn = (fn: string) => (c: (typeof made)[number]) =>
      c.function === fn || (c.service === 'lambda' && c.resource.endsWith(`:function:${fn}`));
    const own = made.filter((c) => !fns.some((fn) => ofFn(fn)(c)));
    return {
      step: countOf(own),
      apart: fns.map((fn) => countOf(made.filter(ofFn(fn)))),
      trips: { step: roundTripsOf(own), apart: fns.map((fn) => roundTripsOf(made.filter(ofFn(fn)))) },
    };
  };
  /**
   * The log lines a run leaves: the stage's access log, and the functions' lines at their application level (the
   * embedded-metric lines apart from the application's).
   */
  const logsOf = async <T>(run: () => Promise<T>) => {
    const apis = [...shape.cloud.apis.values()];
    const accessBefore = apis.map((a) => a.accessLogs.length);
    const linesBefore = shape.cloud.lambda.logs.length;
    const result = await run();
    await shape.cloud.settle();
    const lines = shape.cloud.lambda.logs.slice(linesBefore).map((l) => l.line);
    return {
      result,
      access: apis.flatMap((a, i) => a.accessLogs.slice(accessBefore[i])),
      metrics: lines.filter((l) => l.startsWith('{"_aws"')),
      app: lines.filter((l) => !l.startsWith('{"_aws"')).map((l) => JSON.parse(l) as Record<string, unknown>),
    };
  };
  /**
   * The cost model's log figures (test/bench/cost-model.ts) against a run's lines: an access-log line and a metric
   * line each within 8 % of the model's on average (with CloudWatch's 26 bytes per event), and each application
   * line's envelope (what the functions' logger adds to the message and fields the benchmark counts) within 16 bytes
   * below the model's (the service's name is part of it).
   */
  const expectLogsAsModelled = (logs: Awaited<ReturnType<typeof logsOf>>) => {
    const meanBytes = (lines: string[]) => lines.reduce((sum, l) => sum + Buffer.byteLength(l), 0) / lines.length + 26;
    expect(Math.abs(meanBytes(logs.access) / ASSUMPTIONS.accessLogBytes - 1)).toBeLessThan(0.08);
    expect(Math.abs(meanBytes(logs.metrics) / ASSUMPTIONS.metricLogBytes - 1)).toBeLessThan(0.08);
    for (const line of logs.app) {
      const envelope = Buffer.byteLength(JSON.stringify(line)) - ownBytes(line);
      expect(envelope).toBeLessThanOrEqual(ASSUMPTIONS.appLogEnvelopeBytes);
      expect(envelope).toBeGreaterThan(ASSUMPTIONS.appLogEnvelopeBytes - 16);
    }
  };
  const eventsFn = () => shape.cloud.fn('events').name;
  const streamInvocations = () =>
    shape.cloud.lambda.invocations.filter((i) => i.function === eventsFn() && i.kind === 'stream').length;

  /** Files a step's round trips under its name in `trips`. */
  const tripsInto = (trips: Record<string, number>) => (step: string) => (n: number) => {
    trips[step] = n;
  };

  /** The flow's calls per step; `trips`, when given, gets each step's round trips. */
  const flow = async (decidedOnBus = false, trips: Record<string, number> = {}) => {
    const steps: Record<string, Record<string, number>> = {};
    const into = tripsInto(trips);
    let authReqId = '';
    steps['bc-authorize'] = await callsOf(async () => {
      const res = await form('/bc-authorize', { scope: 'openid', login_hint: 'alice', binding_message: 'Bench' });
      expect(res.status).toBe(200);
      authReqId = ((await res.json()) as { auth_req_id: string }).auth_req_id;
    }, into('bc-authorize'));
    const txn = pushedTxn(shape.cloud, 'fcm-alice');
    steps['device list'] = await callsOf(async () => {
      expect((await device.pending()).map((t) => t.txn)).toContain(txn);
    }, into('device list'));
    const poll = () => form('/oauth/token', { grant_type: CIBA_GRANT, auth_req_id: authReqId });
    steps['token pending'] = await callsOf(async () => {
      const res = await poll();
      expect(await res.json()).toMatchObject({ error: 'authorization_pending' });
    }, into('token pending'));
    // Background work of the steps before (none expected) finishes first: the decision's window holds its own calls.
    await shape.cloud.settle();
    const invoked = streamInvocations();
    const decided = await callsSplit(async () => {
      expect(await device.decide(txn, 'approve')).toEqual({ txn, status: 'approved' });
      await shape.cloud.settle();
    }, [eventsFn()]);
    steps['device decision'] = decided.step;
    steps.stream = decided.apart[0]!;
    trips['device decision'] = decided.trips.step;
    trips.stream = decided.trips.apart[0]!;
    expect(streamInvocations()).toBe(invoked + 1);
    expect(decidedEvents(shape.cloud, txn)).toEqual(decidedOnBus ? [{ function: eventsFn(), status: 'approved' }] : []);
    steps['token redeem'] = await callsOf(async () => {
      const res = await poll();
      expect(res.status).toBe(200);
    }, into('token redeem'));
    return steps;
  };

  it('makes the calls the benchmark counts: 9 DynamoDB requests, 8 with an admission lease, 1 push, no KMS call, and no event that no rule takes (3 with an operator rule that takes them all), on its round trips, with its write units and log lines', async () => {
    await flow(); // cold starts: the tenant's key opened (KMS Decrypt), settings cached
    // The tenant's counter shards: a shard's first request ever creates its item (the write that finds none, its read,
    // the read of the layout before's item, the creation), so each is created first, by a request for a user who does
    // not exist (refused, the pending slot given back). Each request of an instance takes the next shard.
    for (let i = 0; i < ADMISSION_SHARDS; i++) {
      const res = await form('/bc-authorize', { scope: 'openid', login_hint: 'nobody', binding_message: 'Bench' });
      expect(await res.json()).toMatchObject({ error: 'unknown_user_id' });
    }
    // The functions keep tenant and client settings for 30 s (lib/cache.ts): on a loaded machine the cold flow and the
    // shards above can outlast them, and a step of the measured flow would count a settings read. So they all expire
    // now (the clock moved past their age) and one more flow fills them again, right before the measured one.
    // They start a minute (and so a pending window: 300 s, whole minutes) of their own, the admission leases' unit.
    // The bus's rules too (read once a minute).
    const now = shape.cloud.clock.now();
    await shape.cloud.clock.advance(
      Math.ceil((now + Math.max(SETTINGS_TTL_MS, RULES_TTL_MS) + 1) / 60_000) * 60_000 + 1 - now,
    );
    await flow(); // the function's first request of the client this minute: one request counted
    // The measured flow: each fake service answers after LATENCY_MS, so that calls a function makes side by side overlap
    // at the fakes, and the round trips on each step's path are counted from the spans.
    const trips: Record<string, number> = {};
    const units = { table: 0, indexes: 0, failed: 0, reads: 0 };
    shape.cloud.latencyMs = LATENCY_MS;
    shape.cloud.dynamodb.units = units;
    const invoked = shape.cloud.lambda.invocations.length;
    const logs = await logsOf(() => flow(false, trips)).finally(() => {
      shape.cloud.latencyMs = 0;
      shape.cloud.dynamodb.units = undefined;
    });
    const invocations = shape.cloud.lambda.invocations.slice(invoked);
    const steps = logs.result;
    // No rule on the bus takes a poll request's events (the deployment's own takes decided ping and push requests):
    // none is put.
    const expected = {
      'bc-authorize': { dynamodb: 3, sns: 1 },
      'device list': { dynamodb: 2 },
      'token pending': { dynamodb: 1 },
      'device decision': { dynamodb: 2 },
      // The events function, invoked once by the stream's mapping: nothing to put.
      stream: {},
      'token redeem': { dynamodb: 1 },
    };
    // Its second counts a lease of two (the default limits' share of a shard, 9 a minute, holds four of them)...
    expect(steps).toEqual(expected);
    // ...on the round trips the benchmark counts (`round_trips`): bc-authorize's two admissions side by side, then the
    // request, then the push; the device's list with its query beside the proof's write (a device this instance has
    // seen); the decision's read of the device, then the decision; each poll one write; the stream's consumer none.
    expect(trips).toEqual({
      'bc-authorize': 3,
      'device list': 1,
      'token pending': 1,
      'device decision': 2,
      stream: 0,
      'token redeem': 1,
    });
    // Its logs, which the cost model prices: an access-log line per API request, a metric line per lifecycle event
    // (put on the bus or not), and one application line at INFO, the decision's; the push writes none.
    expect(logs.access).toHaveLength(5);
    expect(logs.metrics).toHaveLength(3);
    expect(logs.app.map((l) => l.message)).toEqual(['device decision']);
    expectLogsAsModelled(logs);
    // Its write units, as DynamoDB bills them: one per table write (each item under 1 KB): the counter, the user's
    // window, the request, the list's proof, the pending poll, the decision, the redeeming poll; and three writes of
    // the `pending-by-user` index, whose default projection (`ALL`) takes the pending poll's write too: the request
    // entering it, the pending poll, the decision taking it out. The benchmark measures a store projected `INCLUDE`
    // (`ciba:pendingIndexProjection`), where the pending poll writes no index: 2.
    // Its read units: the decision's strongly consistent read of the device (1) and the list's query of the index
    // (eventually consistent, 0.5), the benchmark's 1.5.
    expect(units).toEqual({ table: 7, indexes: 3, failed: 0, reads: 1.5 });
    // The flow in the benchmark's terms, priced by its cost model: five API requests and the stream's consumer, each
    // an invocation whose busy time was measured.
    expect(invocations.map((i) => i.kind).sort()).toEqual(['stream', 'sync', 'sync', 'sync', 'sync', 'sync']);
    for (const i of invocations) expect(i.activeMs).toBeGreaterThan(0);
    const figures = figuresOf('poll', { steps, trips, units, logs, invocations, clientCalls: 0 });
    expect(figures).toMatchObject({
      http_requests_per_flow: 5,
      stream_invocations_per_flow: 1,
      store_requests_per_flow: 9,
      write_units_per_flow: 10,
      read_units_per_flow: 1.5,
      aws_calls_per_flow: {
        KMS: 0,
        SNS: 1,
        EventBridge: 0,
        Scheduler: 0,
        DynamoDB: 9,
        'Lambda stream': 1,
        'Lambda callback': 0,
      },
    });
    // ...which the next request takes without writing a counter: the user's window and the request only.
    const leased = { table: 0, indexes: 0, failed: 0, reads: 0 };
    shape.cloud.dynamodb.units = leased;
    expect(await flow().finally(() => (shape.cloud.dynamodb.units = undefined))).toEqual({
      ...expected,
      'bc-authorize': { dynamodb: 2, sns: 1 },
    });
    expect(leased).toEqual({ table: 6, indexes: 3, failed: 0, reads: 1.5 });
    // The lease spent, the next request counts again.
    expect((await flow())['bc-authorize']).toEqual({ dynamodb: 3, sns: 1 });

    // An operator's rule that takes every event (an audit log): once the functions read the rules again, the three
    // events of a poll flow are put, one per step that makes one.
    const removeRule = operatorRule(shape.cloud);
    try {
      await shape.cloud.clock.advance(RULES_TTL_MS);
      await flow(true); // each function reads the rules again
      const withRule = await flow(true);
      const eventsOf = (s: Record<string, Record<string, number>>) =>
        Object.fromEntries(Object.entries(s).map(([step, calls]) => [step, calls.events ?? 0]));
      expect(eventsOf(withRule)).toEqual({
        'bc-authorize': 1,
        'device list': 0,
        'token pending': 0,
        'device decision': 0,
        stream: 1,
        'token redeem': 1,
      });
    } finally {
      removeRule();
    }
  }, 180_000);

  /**
   * The benchmark's ping or push flow (`npm run bench -- --mode ping|push`) for `user`, measured warm: bc-authorize
   * with a notification token, the device's list, the decision with the stream's consumer and the callback function
   * apart, and for ping the redeeming token request. Returns what the harness saw, in the terms of `figuresOf`.
   */
  const measuredCallbackFlow = async (mode: 'ping' | 'push', user: string) => {
    const rpHost = await Receiver.start(shape.cloud, shape.pki, 'rp.example.com');
    try {
      const endpoint = rpHost.endpoint();
      const creds = await shape.registerClient('acme', {
        backchannel_token_delivery_mode: mode,
        backchannel_client_notification_endpoint: endpoint,
      });
      const token = `fcm-${user}`;
      const phone = await shape.enrolledDevice('acme', user, { type: 'fcm', token });
      const callback = shape.cloud.fn('callback').name;
      const callbackFlow = async (trips: Record<string, number> = {}) => {
        const steps: Record<string, Record<string, number>> = {};
        const into = tripsInto(trips);
        let authReqId = '';
        steps['bc-authorize'] = await callsOf(async () => {
          const res = await form(
            '/bc-authorize',
            {
              scope: 'openid',
              login_hint: user,
              binding_message: 'Bench',
              client_notification_token: 'notify-bench-0123',
            },
            creds,
          );
          expect(res.status).toBe(200);
          authReqId = ((await res.json()) as { auth_req_id: string }).auth_req_id;
        }, into('bc-authorize'));
        const txn = pushedTxn(shape.cloud, token);
        steps['device list'] = await callsOf(async () => {
          expect((await phone.pending()).map((t) => t.txn)).toContain(txn);
        }, into('device list'));
        const invoked = shape.cloud.lambda.invocations.filter((i) => i.function === callback && i.kind === 'async');
        await shape.cloud.settle();
        const streamed = streamInvocations();
        const decided = await callsSplit(async () => {
          expect(await phone.decide(txn, 'approve')).toEqual({ txn, status: 'approved' });
          await shape.cloud.settle();
        }, [eventsFn(), callback]);
        steps['device decision'] = decided.step;
        steps.stream = decided.apart[0]!;
        steps.callback = decided.apart[1]!;
        trips['device decision'] = decided.trips.step;
        trips.stream = decided.trips.apart[0]!;
        trips.callback = decided.trips.apart[1]!;
        expect(shape.cloud.lambda.invocations.filter((i) => i.function === callback && i.kind === 'async').length).toBe(
          invoked.length + 1,
        );
        expect(streamInvocations()).toBe(streamed + 1);
        expect(decidedEvents(shape.cloud, txn)).toEqual([{ function: eventsFn(), status: 'approved' }]);
        const posted = JSON.parse(rpHost.at(endpoint).at(-1)!.body) as Record<string, unknown>;
        if (mode === 'push') {
          expect(posted).toMatchObject({ auth_req_id: authReqId, token_type: 'Bearer' });
          return steps;
        }
        expect(posted).toEqual({ auth_req_id: authReqId });
        steps['token redeem'] = await callsOf(async () => {
          const res = await form('/oauth/token', { grant_type: CIBA_GRANT, auth_req_id: authReqId }, creds);
          expect(res.status).toBe(200);
        }, into('token redeem'));
        return steps;
      };
      // Every function's settings and bus rules expire (as above), so that the first flow reads them all again.
      await shape.cloud.clock.advance(Math.max(SETTINGS_TTL_MS, RULES_TTL_MS) + 1);
      await callbackFlow(); // the callback function's cold start, the settings caches
      // The counter shard the flow's request takes, started as in the test above.
      const refused = await form('/bc-authorize', { scope: 'openid', login_hint: 'nobody', binding_message: 'Bench' });
      expect(await refused.json()).toMatchObject({ error: 'unknown_user_id' });
      const trips: Record<string, number> = {};
      const units = { table: 0, indexes: 0, failed: 0, reads: 0 };
      shape.cloud.latencyMs = LATENCY_MS;
      shape.cloud.dynamodb.units = units;
      const invoked = shape.cloud.lambda.invocations.length;
      const posted = rpHost.at(endpoint).length;
      const logs = await logsOf(() => callbackFlow(trips)).finally(() => {
        shape.cloud.latencyMs = 0;
        shape.cloud.dynamodb.units = undefined;
      });
      const invocations = shape.cloud.lambda.invocations.slice(invoked);
      const clientCalls = rpHost.at(endpoint).length - posted;
      expectLogsAsModelled(logs);
      for (const i of invocations) expect(i.activeMs).toBeGreaterThan(0);
      return { steps: logs.result, trips, units, logs, invocations, clientCalls };
    } finally {
      await rpHost.stop();
    }
  };

  it('ping: the callback function, invoked once by the rule, makes the calls the benchmark counts: 10 DynamoDB requests, 1 event (the Decided event the rule takes), 1 push', async () => {
    const measured = await measuredCallbackFlow('ping', 'bob');
    const { trips, units, logs, invocations } = measured;
    expect(logs.result).toEqual({
      'bc-authorize': { dynamodb: 3, sns: 1 },
      'device list': { dynamodb: 2 },
      'device decision': { dynamodb: 2 },
      // The Decided event, which the deployment's own rule takes.
      stream: { events: 1 },
      // The rule's invocation; the attempt's claim, which returns the request (no read before it), and its result (no
      // rule takes the Callback Delivered event).
      callback: { lambda: 1, dynamodb: 2 },
      'token redeem': { dynamodb: 1 },
    });
    // The benchmark's round trips (`--mode ping`) but the callback's POST to the client's endpoint, which is no AWS
    // call (the benchmark counts 3 there): the attempt's claim, and after the POST its result.
    expect(trips).toEqual({
      'bc-authorize': 3,
      'device list': 1,
      'device decision': 2,
      stream: 1,
      callback: 2,
      'token redeem': 1,
    });
    // Its write units: the counter, the user's window, the request, the list's proof, the decision, the callback's
    // claim and its result, the redeeming token request (each item under 1 KB, the callback's state included), and
    // the request entering and leaving `pending-by-user` (no pending poll: `ALL` and `INCLUDE` alike), as the
    // benchmark's `--mode ping` counts (9 at c = 8, where a lease spares most counter writes).
    // Read units: the decision's read of the device and the list's query, as in poll mode; the callback reads nothing.
    expect(units).toEqual({ table: 8, indexes: 2, failed: 0, reads: 1.5 });
    // Its logs: an access-log line per API request, a metric line per lifecycle event (Request Started, Request
    // Approved, Callback Delivered, Tokens Issued), and two application lines, the decision's and the callback's.
    expect(logs.access).toHaveLength(4);
    expect(logs.metrics).toHaveLength(4);
    expect(logs.app.map((l) => l.message)).toEqual(['device decision', 'callback delivered']);
    // In the benchmark's terms: four API requests, the stream's consumer and the callback function (invoked by the
    // rule), and one POST to the client.
    expect(invocations.map((i) => i.kind).sort()).toEqual(['async', 'stream', 'sync', 'sync', 'sync', 'sync']);
    expect(figuresOf('ping', { ...measured, steps: logs.result })).toMatchObject({
      http_requests_per_flow: 4,
      event_invocations_per_flow: 1,
      stream_invocations_per_flow: 1,
      client_endpoint_calls_per_flow: 1,
      store_requests_per_flow: 10,
      write_units_per_flow: 10,
      read_units_per_flow: 1.5,
      aws_calls_per_flow: {
        KMS: 0,
        SNS: 1,
        EventBridge: 1,
        Scheduler: 0,
        DynamoDB: 10,
        'Lambda stream': 1,
        'Lambda callback': 1,
      },
    });
  }, 120_000);

  it('push: the expiry timer beside the request, withdrawn beside the decision, and the sealed tokens kept until delivered: the calls, round trips and write units the benchmark counts', async () => {
    const measured = await measuredCallbackFlow('push', 'carol');
    const { trips, units, logs, invocations } = measured;
    expect(logs.result).toEqual({
      // The request's write ‖ its expiry timer.
      'bc-authorize': { dynamodb: 3, sns: 1, scheduler: 1 },
      'device list': { dynamodb: 2 },
      'device decision': { dynamodb: 2 },
      // The Decided event ‖ the expiry timer's deletion.
      stream: { events: 1, 'scheduler delete': 1 },
      // The rule's invocation; the claim, the sealed tokens kept, and after the POST the delivery, which drops them.
      callback: { lambda: 1, dynamodb: 3 },
    });
    // The benchmark's round trips (`--mode push`: bc-authorize 3, list 1, decision 2, stream 1, callback 4) but the
    // callback's POST to the client's endpoint, which is no AWS call.
    expect(trips).toEqual({ 'bc-authorize': 3, 'device list': 1, 'device decision': 2, stream: 1, callback: 3 });
    // Its write units: one per write of an item under 1 KB (the counter, the user's window, the request, the list's
    // proof, the decision, the callback's claim), and 3 for each of the two writes of the request carrying its sealed
    // tokens (over 2 KB: docs/performance.md "Push mode"); the index as in ping mode. The benchmark's table 11.1 is the
    // same less 7 counter writes in 8 under a lease.
    expect(units).toEqual({ table: 12, indexes: 2, failed: 0, reads: 1.5 });
    // An access-log line per API request, a metric line per lifecycle event (Request Started, Request Approved,
    // Tokens Issued, Callback Delivered), the decision's and the callback's application lines.
    expect(logs.access).toHaveLength(3);
    expect(logs.metrics).toHaveLength(4);
    expect(logs.app.map((l) => l.message)).toEqual(['device decision', 'callback delivered']);
    expect(invocations.map((i) => i.kind).sort()).toEqual(['async', 'stream', 'sync', 'sync', 'sync']);
    expect(figuresOf('push', { ...measured, steps: logs.result })).toMatchObject({
      http_requests_per_flow: 3,
      event_invocations_per_flow: 1,
      stream_invocations_per_flow: 1,
      client_endpoint_calls_per_flow: 1,
      store_requests_per_flow: 10,
      write_units_per_flow: 14,
      read_units_per_flow: 1.5,
      aws_calls_per_flow: {
        KMS: 0,
        SNS: 1,
        EventBridge: 1,
        Scheduler: 1,
        'Scheduler delete': 1,
        DynamoDB: 10,
        'Lambda stream': 1,
        'Lambda callback': 1,
      },
    });
  }, 120_000);
});
