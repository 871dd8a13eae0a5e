/**
 * The AWS cost model of docs/performance.md, as code: what a million flows cost, computed from what a benchmark run
 * measured (requests, round trips, capacity units, AWS calls, log bytes). The prices are here and nowhere else.
 */

/**
 * List prices, us-east-1, on-demand, first pricing tier, without the free tier. Read from the AWS pricing pages named
 * in `source` (the figures docs/performance.md used since issue 6; DynamoDB's are the on-demand prices of 2024-11-01).
 */
export const PRICES = {
  date: '2026-12-02',
  region: 'us-east-1',
  source: {
    lambda: 'https://aws.amazon.com/lambda/pricing/ (arm64)',
    apiGateway: 'https://aws.amazon.com/api-gateway/pricing/ (HTTP APIs, first 300 million)',
    dynamoDb: 'https://aws.amazon.com/dynamodb/pricing/on-demand/ (standard table class)',
    dynamoDbProvisioned: 'https://aws.amazon.com/dynamodb/pricing/provisioned/ (standard table class, per unit-hour)',
    eventBridge: 'https://aws.amazon.com/eventbridge/pricing/ (custom events, per 64 KB chunk)',
    scheduler: 'https://aws.amazon.com/eventbridge/pricing/ (Scheduler invocations)',
    sns: 'https://aws.amazon.com/sns/pricing/ (mobile push notifications)',
    kms: 'https://aws.amazon.com/kms/pricing/ (symmetric requests; asymmetric Sign is $0.15 per 10,000)',
    logs: 'https://aws.amazon.com/cloudwatch/pricing/ (Logs, standard ingestion)',
    dynamoDbStreams:
      'https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CostOptimization_StreamsUsage.html (read requests of Lambda-based consumers are free)',
  },
  lambdaPerMillionRequests: 0.2,
  lambdaPerGbSecond: 0.0000133334,
  apiGatewayPerMillion: 1.0,
  dynamoDbPerMillionWru: 0.625,
  dynamoDbPerMillionRru: 0.125,
  /**
   * Provisioned capacity, per capacity unit and hour: a WCU is one write (≤ 1 KB) a second, an RCU one strongly
   * consistent read (≤ 4 KB) or two eventually consistent ones a second (the same ratio as on-demand's units).
   */
  dynamoDbPerWcuHour: 0.00065,
  dynamoDbPerRcuHour: 0.00013,
  eventBridgePerMillionEvents: 1.0,
  schedulerPerMillion: 1.0,
  snsPerMillionMobilePush: 0.5,
  kmsPerMillionSymmetric: 3.0,
  kmsPerMillionAsymmetricSign: 15.0,
  logsPerGbIngested: 0.5,
  /** DynamoDB Streams' `GetRecords` made by a Lambda event source mapping (a trigger): not charged. */
  dynamoDbStreamsReadsByLambdaPerMillion: 0,
} as const;

/** What the model assumes beyond the prices (docs/performance.md "Cost model"). */
export const ASSUMPTIONS = {
  /** The functions' memory (infra/ciba-function.ts) and its share of a vCPU (Lambda gives 1 vCPU at 1,769 MB). */
  lambdaMemoryMb: 512,
  lambdaVcpuShare: 512 / 1769,
  /** One DynamoDB, EventBridge, SNS or Scheduler round trip from Lambda in the same region. */
  msPerRoundTrip: 6,
  /**
   * The callback's POST to a client's notification endpoint, outside AWS: a new TLS connection and the client's
   * answer (the benchmark's receiver is on loopback, so this one is assumed, not measured).
   */
  msPerClientCall: 50,
  /**
   * Lambda's system log level (infra/ciba-function.ts: WARN unless the `ciba:lambdaSystemLogLevel` context key says
   * otherwise) and the system lines it leaves in the log group per invocation: none at WARN (no START, END or REPORT;
   * only Lambda's rare system lines at WARN and above), Lambda's START, END and REPORT at INFO (their text
   * format's ≈ 330 bytes with CloudWatch's 26 bytes per event: a lower bound, their JSON records are longer).
   */
  lambdaSystemLogLevel: 'WARN' as 'WARN' | 'INFO',
  lambdaSystemLogBytes: { WARN: 0, INFO: 330 + 3 * 26 },
  /**
   * One API Gateway access-log line (infra/service-stack.ts's format: 240-290 bytes, by path and latency) with its
   * event overhead. Measured: the AWS-shape harness writes the stage's format for each request, and
   * test/aws/flow-calls.test.ts checks a flow's lines against this figure (it was 80 bytes, a guess, until 2026-12-04).
   */
  accessLogBytes: 255 + 26,
  /**
   * One embedded-metric-format line per published event (lib/adapters/metrics-event-bus.ts: 220-240 bytes, by metric,
   * function and tenant), with its event overhead; measured and checked as the access-log line (it was 170).
   */
  metricLogBytes: 230 + 26,
  /**
   * What the functions' logger (Powertools, lib/adapters/powertools-logger.ts) writes on each application line
   * besides its message and fields: level, timestamp, service, cold start, the invocation's context. The benchmark
   * counts a line's message and fields (`FlowFigures.logBytes`); measured from the deployed bundles' lines and checked
   * as the access-log line.
   */
  appLogEnvelopeBytes: 160,
  /** CloudWatch Logs' overhead per event (an application log line). */
  logEventOverheadBytes: 26,
  /**
   * For the provisioned-capacity alternative only: the share of the provisioned units a table uses on average, DynamoDB
   * auto scaling's usual target (70 %). The rest is paid for and unused.
   */
  provisionedUtilization: 0.7,
};
export type Assumptions = typeof ASSUMPTIONS;

/** Per flow, as a benchmark measured it. */
export interface FlowFigures {
  /** HTTP requests through API Gateway, each one Lambda invocation. */
  httpRequests: number;
  /**
   * Lambda invocations that no API request makes: the callback function of a ping or push flow, invoked by the
   * `Request Decided` event's EventBridge rule (or a Scheduler timer). A Lambda request and its duration, no API
   * Gateway request and no access-log line.
   */
  eventInvocations?: number;
  /**
   * Invocations of the table stream's consumer (functions/events), which publishes each decision's `Request Decided`
   * event: one per decided request (no batching assumed: at low volume each batch holds one record). A Lambda request
   * and its duration, one `GetRecords` of the stream by the event source mapping (free for a Lambda trigger), no API
   * Gateway request and no access-log line.
   */
  streamInvocations?: number;
  /** Round trips on the critical paths of those requests and invocations, summed. */
  roundTrips: number;
  /** Of those round trips, the callbacks' POSTs to clients' notification endpoints (`msPerClientCall` each). */
  clientCalls?: number;
  /** CPU of the service's main thread (its code, the SDK, HTTP) on the benchmark's machine, ms. */
  cpuMs: number;
  writeUnits: number;
  readUnits: number;
  /**
   * AWS calls by service: `EventBridge` (events put on the bus), `SNS`, `Scheduler` (schedules created), `Scheduler
   * delete` (schedules deleted before they ran: a decided push request's expiry timer), `KMS`, `KMS Sign`.
   */
  awsCalls: Record<string, number>;
  /**
   * Lifecycle events published, put on the bus or not: each is a metric's log line. Unset: the events put on the bus
   * (`awsCalls.EventBridge`), as every event was before `ciba:events` `matched`.
   */
  lifecycleEvents?: number;
  /**
   * Application log lines at Lambda's application level (info), and their messages and fields as JSON (the logger's
   * own envelope is `appLogEnvelopeBytes` a line): the lines the functions write, not those of local stand-ins.
   */
  logLines: number;
  logBytes: number;
}

const round = (x: number) => Number(x.toFixed(2));

/** Dollars per million flows, by item, and their total. */
export const costPerMillionFlows = (f: FlowFigures, p = PRICES, a: Assumptions = ASSUMPTIONS) => {
  const streamInvocations = f.streamInvocations ?? 0;
  const invocations = f.httpRequests + (f.eventInvocations ?? 0) + streamInvocations;
  const clientCalls = f.clientCalls ?? 0;
  // Lambda runs the round trips (a client's endpoint takes longer than an AWS service) and its CPU, which at 512 MB
  // gets about 0.29 of a vCPU.
  const waitMs = (f.roundTrips - clientCalls) * a.msPerRoundTrip + clientCalls * a.msPerClientCall;
  const durationS = (waitMs + f.cpuMs / a.lambdaVcpuShare) / 1000;
  const gbSeconds = durationS * (a.lambdaMemoryMb / 1024);
  const events = f.awsCalls.EventBridge ?? 0;
  const logBytes =
    invocations * a.lambdaSystemLogBytes[a.lambdaSystemLogLevel] +
    f.httpRequests * a.accessLogBytes +
    (f.lifecycleEvents ?? events) * a.metricLogBytes +
    f.logBytes +
    f.logLines * (a.appLogEnvelopeBytes + a.logEventOverheadBytes);
  const breakdown = {
    api_gateway: round(f.httpRequests * p.apiGatewayPerMillion),
    lambda_requests: round(invocations * p.lambdaPerMillionRequests),
    lambda_duration: round(gbSeconds * p.lambdaPerGbSecond * 1e6),
    dynamodb_writes: round(f.writeUnits * p.dynamoDbPerMillionWru),
    dynamodb_reads: round(f.readUnits * p.dynamoDbPerMillionRru),
    dynamodb_streams: round(streamInvocations * p.dynamoDbStreamsReadsByLambdaPerMillion),
    eventbridge: round(events * p.eventBridgePerMillionEvents),
    // Scheduler bills invocations: a schedule deleted before its time never runs (each delete a benchmark counts
    // withdraws a push request's expiry timer minutes ahead of it).
    scheduler: round(
      Math.max(0, (f.awsCalls.Scheduler ?? 0) - (f.awsCalls['Scheduler delete'] ?? 0)) * p.schedulerPerMillion,
    ),
    sns: round((f.awsCalls.SNS ?? 0) * p.snsPerMillionMobilePush),
    kms: round(
      (f.awsCalls.KMS ?? 0) * p.kmsPerMillionSymmetric + (f.awsCalls['KMS Sign'] ?? 0) * p.kmsPerMillionAsymmetricSign,
    ),
    cloudwatch_logs: round((logBytes / 1024 ** 3) * p.logsPerGbIngested * 1e6),
  };
  const total = round(Object.values(breakdown).reduce((sum, x) => sum + x, 0));
  // The same units on provisioned capacity: a unit-hour serves 3,600 units at full use, so a unit costs the hourly
  // price / 3,600, divided by the share used.
  const perMillionUnits = (perHour: number) => (perHour / 3600 / a.provisionedUtilization) * 1e6;
  const provisioned = {
    dynamodb_writes: round(f.writeUnits * perMillionUnits(p.dynamoDbPerWcuHour)),
    dynamodb_reads: round(f.readUnits * perMillionUnits(p.dynamoDbPerRcuHour)),
  };
  return {
    total,
    breakdown,
    /** What the same flows would cost with the tables on provisioned capacity at `provisionedUtilization`. */
    provisioned_capacity: {
      utilization: a.provisionedUtilization,
      ...provisioned,
      total: round(
        total -
          breakdown.dynamodb_writes -
          breakdown.dynamodb_reads +
          provisioned.dynamodb_writes +
          provisioned.dynamodb_reads,
      ),
    },
    lambda_ms_per_flow: round(durationS * 1000),
    log_kb_per_flow: round(logBytes / 1024),
    lambda_system_log_level: a.lambdaSystemLogLevel,
  };
};

/**
 * The cost fields of a run's JSON, the same in the benchmark's (`npm run bench`) and in the AWS-shape harness's
 * figures of the deployed functions (test/aws/flow-calls.test.ts, `AWS_SHAPE_FIGURES`).
 */
export const costFields = (f: FlowFigures) => {
  const cost = costPerMillionFlows(f);
  return {
    cost_per_million_flows_usd: cost.total,
    cost_breakdown_usd: cost.breakdown,
    cost_per_million_flows_provisioned_capacity_usd: cost.provisioned_capacity,
    cost_model: {
      lambda_ms_per_flow: cost.lambda_ms_per_flow,
      log_kb_per_flow: cost.log_kb_per_flow,
      lambda_system_log_level: cost.lambda_system_log_level,
      prices: PRICES.date,
    },
  };
};
