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
    const perRequest = ASSUMPTIONS.lambdaPlatformLogBytes + ASSUMPTIONS.accessLogBytes;
    expect(quiet.log_kb_per_flow).toBeCloseTo((5 * perRequest) / 1024, 2);
    const chatty = costPerMillionFlows({ ...flow, awsCalls: {}, logLines: 2, logBytes: 1000 });
    expect(chatty.log_kb_per_flow).toBeCloseTo((5 * perRequest + 1000 + 2 * 26) / 1024, 2);
  });

  it('prices KMS calls: symmetric (cold-start Decrypt) and asymmetric Sign', () => {
    expect(costPerMillionFlows({ ...flow, awsCalls: { 'KMS Sign': 2 } }).breakdown.kms).toBe(30);
    expect(costPerMillionFlows({ ...flow, awsCalls: { KMS: 1 } }).breakdown.kms).toBe(3);
  });

  it('totals the breakdown', () => {
    const { total, breakdown } = costPerMillionFlows(flow);
    expect(total).toBeCloseTo(
      Object.values(breakdown).reduce((a, b) => a + b, 0),
      2,
    );
  });
});
