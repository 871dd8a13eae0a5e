import { describe, expect, it } from 'vitest';
import { ASSUMPTIONS, costPerMillionFlows, type FlowFigures, PRICES } from '../../bench/cost-model.ts';

const flow: FlowFigures = {
  httpRequests: 5,
  roundTrips: 10,
  cpuMs: 0,
  writeUnits: 8,
  readUnits: 0.5,
  awsCalls: { EventBridge: 3, SNS: 1, KMS: 0 },
  logLines: 0,
  logBytes: 0,
};

describe('benchmark: cost per million flows', () => {
  it('prices each service from the measured counts', () => {
    const { breakdown } = costPerMillionFlows(flow);
    expect(breakdown).toMatchObject({
      api_gateway: 5,
      lambda_requests: 1,
      dynamodb_writes: 5,
      dynamodb_reads: 0.06,
      eventbridge: 3,
      sns: 0.5,
      kms: 0,
      scheduler: 0,
    });
  });

  it('bills Scheduler for the schedules that run: one deleted before its time costs nothing', () => {
    const timer = costPerMillionFlows({ ...flow, awsCalls: { ...flow.awsCalls, Scheduler: 1 } });
    expect(timer.breakdown.scheduler).toBe(PRICES.schedulerPerMillion);
    const withdrawn = costPerMillionFlows({
      ...flow,
      awsCalls: { ...flow.awsCalls, Scheduler: 1, 'Scheduler delete': 1 },
    });
    expect(withdrawn.breakdown.scheduler).toBe(0);
    expect(timer.total - withdrawn.total).toBeCloseTo(PRICES.schedulerPerMillion, 2);
  });

  it('bills Lambda for its round trips and its CPU at the share of a vCPU its memory buys', () => {
    const idle = costPerMillionFlows(flow);
    // 10 round trips × 6 ms = 60 ms at 0.5 GB: 0.03 GB-s per flow.
    expect(idle.lambda_ms_per_flow).toBe(60);
    expect(idle.breakdown.lambda_duration).toBeCloseTo(0.03 * PRICES.lambdaPerGbSecond * 1e6, 2);
    const busy = costPerMillionFlows({ ...flow, cpuMs: 10 });
    expect(busy.lambda_ms_per_flow).toBeCloseTo(60 + 10 / ASSUMPTIONS.lambdaVcpuShare, 1);
  });

  it('counts log bytes: Lambda and access-log lines per request, a metric line per event, the app lines', () => {
    const quiet = costPerMillionFlows({ ...flow, awsCalls: {} });
    const perRequest = ASSUMPTIONS.lambdaSystemLogBytes[ASSUMPTIONS.lambdaSystemLogLevel] + ASSUMPTIONS.accessLogBytes;
    expect(quiet.log_kb_per_flow).toBeCloseTo((5 * perRequest) / 1024, 2);
    const chatty = costPerMillionFlows({ ...flow, awsCalls: {}, logLines: 2, logBytes: 1000 });
    expect(chatty.log_kb_per_flow).toBeCloseTo(
      (5 * perRequest + 1000 + 2 * (ASSUMPTIONS.appLogEnvelopeBytes + 26)) / 1024,
      2,
    );
  });

  it('counts a metric line per lifecycle event, put on the bus or not; EventBridge only for those put', () => {
    const notPut = { SNS: 1, KMS: 0 };
    const none = costPerMillionFlows({ ...flow, awsCalls: notPut });
    const allPut = costPerMillionFlows(flow);
    const nonePut = costPerMillionFlows({ ...flow, awsCalls: notPut, lifecycleEvents: 3 });
    expect(allPut.log_kb_per_flow).toBeCloseTo(none.log_kb_per_flow + (3 * ASSUMPTIONS.metricLogBytes) / 1024, 2);
    expect(nonePut.log_kb_per_flow).toBe(allPut.log_kb_per_flow);
    expect(nonePut.breakdown.eventbridge).toBe(0);
    expect(allPut.total - nonePut.total).toBeCloseTo(3 * PRICES.eventBridgePerMillionEvents, 2);
  });

  it("prices a ping flow's callback as a Lambda invocation by EventBridge, not as an API request", () => {
    // Ping: 4 API requests (no polls) and the callback function, invoked by the Request Decided event's rule.
    const ping: FlowFigures = { ...flow, httpRequests: 4, eventInvocations: 1, awsCalls: { EventBridge: 4 } };
    const { breakdown, log_kb_per_flow } = costPerMillionFlows(ping);
    expect(breakdown.api_gateway).toBe(4);
    expect(breakdown.lambda_requests).toBe(1);
    expect(breakdown.eventbridge).toBe(4);
    // Its invocation leaves Lambda's system lines (at the modelled level) but no access-log line.
    const perInvocation = ASSUMPTIONS.lambdaSystemLogBytes[ASSUMPTIONS.lambdaSystemLogLevel];
    expect(log_kb_per_flow).toBeCloseTo(
      (5 * perInvocation + 4 * ASSUMPTIONS.accessLogBytes + 4 * ASSUMPTIONS.metricLogBytes) / 1024,
      2,
    );
    const polled = costPerMillionFlows({ ...ping, eventInvocations: 0 });
    expect(polled.breakdown.lambda_requests).toBe(0.8);
    expect(polled.breakdown.api_gateway).toBe(4);
  });

  it("prices the table stream's consumer as a Lambda invocation per decided event, its stream reads free", () => {
    // Poll: 5 API requests and the consumer that publishes the decision's event (its one round trip: the bus).
    const withStream: FlowFigures = { ...flow, streamInvocations: 1, roundTrips: 11 };
    const { breakdown, lambda_ms_per_flow, log_kb_per_flow } = costPerMillionFlows(withStream);
    expect(breakdown.lambda_requests).toBe(1.2);
    expect(breakdown.api_gateway).toBe(5);
    // GetRecords by a Lambda event source mapping is not charged.
    expect(PRICES.dynamoDbStreamsReadsByLambdaPerMillion).toBe(0);
    expect(breakdown.dynamodb_streams).toBe(0);
    expect(lambda_ms_per_flow).toBe(11 * ASSUMPTIONS.msPerRoundTrip);
    // Lambda's system lines for its invocation (at the modelled level), no access-log line.
    const perInvocation = ASSUMPTIONS.lambdaSystemLogBytes[ASSUMPTIONS.lambdaSystemLogLevel];
    expect(log_kb_per_flow).toBeCloseTo(
      (6 * perInvocation + 5 * ASSUMPTIONS.accessLogBytes + 3 * ASSUMPTIONS.metricLogBytes) / 1024,
      2,
    );
    // Ping: the consumer and the callback function it starts, both invocations by an event.
    const ping = costPerMillionFlows({ ...withStream, httpRequests: 4, eventInvocations: 1 });
    expect(ping.breakdown.lambda_requests).toBe(1.2);
    expect(ping.breakdown.api_gateway).toBe(4);
  });

  it("waits msPerClientCall, not an AWS round trip, for the callback's POST to the client", () => {
    const ping: FlowFigures = { ...flow, eventInvocations: 1, roundTrips: 14, clientCalls: 1 };
    // 13 AWS round trips × 6 ms + one client call.
    expect(costPerMillionFlows(ping).lambda_ms_per_flow).toBe(13 * 6 + ASSUMPTIONS.msPerClientCall);
  });

  it("leaves Lambda's system lines out at WARN and counts them at INFO", () => {
    const at = (level: 'WARN' | 'INFO') =>
      costPerMillionFlows({ ...flow, awsCalls: {}, eventInvocations: 1 }, PRICES, {
        ...ASSUMPTIONS,
        lambdaSystemLogLevel: level,
      }).log_kb_per_flow;
    expect(at('WARN')).toBeCloseTo((5 * ASSUMPTIONS.accessLogBytes) / 1024, 2);
    expect(at('INFO')).toBeCloseTo(
      (6 * ASSUMPTIONS.lambdaSystemLogBytes.INFO + 5 * ASSUMPTIONS.accessLogBytes) / 1024,
      2,
    );
  });

  it('prices KMS calls: symmetric (cold-start Decrypt) and asymmetric Sign', () => {
    expect(costPerMillionFlows({ ...flow, awsCalls: { 'KMS Sign': 2 } }).breakdown.kms).toBe(30);
    expect(costPerMillionFlows({ ...flow, awsCalls: { KMS: 1 } }).breakdown.kms).toBe(3);
  });

  it('prices the same units on provisioned capacity at the share auto scaling keeps in use', () => {
    const { total, breakdown, provisioned_capacity } = costPerMillionFlows(flow);
    // 8 writes a flow: a million flows use 8 million WCU-seconds, 8e6 / 3,600 WCU-hours at $0.00065, over 70 % use.
    expect(provisioned_capacity.utilization).toBe(0.7);
    expect(provisioned_capacity.dynamodb_writes).toBeCloseTo(((8e6 / 3600) * 0.00065) / 0.7, 2);
    expect(provisioned_capacity.dynamodb_reads).toBeCloseTo(((0.5e6 / 3600) * 0.00013) / 0.7, 2);
    expect(provisioned_capacity.total).toBeCloseTo(
      total -
        breakdown.dynamodb_writes -
        breakdown.dynamodb_reads +
        provisioned_capacity.dynamodb_writes +
        provisioned_capacity.dynamodb_reads,
      2,
    );
    // Fully used, a provisioned write costs 0.29 of an on-demand one; at 70 % about 0.41.
    const full = costPerMillionFlows(flow, PRICES, { ...ASSUMPTIONS, provisionedUtilization: 1 });
    expect(full.provisioned_capacity.dynamodb_writes).toBeCloseTo(1.44, 2);
    expect(full.provisioned_capacity.dynamodb_writes).toBeLessThan(provisioned_capacity.dynamodb_writes);
  });

  it('totals the breakdown', () => {
    const { total, breakdown } = costPerMillionFlows(flow);
    expect(total).toBeCloseTo(
      Object.values(breakdown).reduce((a, b) => a + b, 0),
      2,
    );
  });
});
