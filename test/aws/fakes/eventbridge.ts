import { randomUUID } from 'node:crypto';
import { matchesPattern, selectPath, transformInput } from '../event-pattern.ts';
import type { Caller } from '../iam.ts';
import { classifyInvokeError, type LambdaRuntime, LambdaServiceError } from '../lambda.ts';
import {
  AwsError,
  authorize,
  type Core,
  type Endpoint,
  type FakeRequest,
  jsonOperation,
  jsonResponse,
  startEndpoint,
} from './endpoint.ts';
import type { FakeSqs } from './sqs.ts';

/**
 * EventBridge: the template's buses and rules (event patterns, targets with Input, InputPath or InputTransformer,
 * retry policy and dead-letter queue). `PutEvents` is authorized per bus (`events:PutEvents`, with `events:source`
 * and `events:detail-type`), each event goes to the targets of every enabled rule it matches. A Lambda target is
 * invoked asynchronously as `events.amazonaws.com` (the function's resource policy must allow the rule); a throttled
 * invocation is retried with backoff within the target's retry policy; a refused one (no permission, no function)
 * or one out of retries goes to the target's DLQ, sent as `events.amazonaws.com` (the queue policy must allow the
 * rule), with EventBridge's message attributes.
 *
 * `ListRules` lists a bus's rules (the functions read them to put only the events a rule may take).
 *
 * Not covered: archives and replay, API destinations, cross-account buses, schema discovery, targets other than
 * Lambda functions and SQS queues.
 */

export interface FakeRule {
  name: string;
  arn: string;
  bus: string;
  pattern: Record<string, unknown>;
  enabled: boolean;
  targets: {
    Id: string;
    Arn: string;
    Input?: string;
    InputPath?: string;
    InputTransformer?: { InputPathsMap?: Record<string, string>; InputTemplate: string };
    RetryPolicy?: { MaximumRetryAttempts?: number; MaximumEventAgeInSeconds?: number };
    DeadLetterConfig?: { Arn: string };
  }[];
}

export interface PutEvent {
  id: string;
  bus: string;
  event: Record<string, unknown>;
  /** The function whose role put it (its execution role session). */
  function?: string;
}

export interface DeadLetteredEvent {
  rule: string;
  target: string;
  errorCode: string;
  event: unknown;
}

const SERVICE: Caller = { arn: 'events.amazonaws.com', policies: [] };

export class FakeEventBridge {
  readonly buses = new Map<string, string>();
  readonly rules = new Map<string, FakeRule>();
  readonly events: PutEvent[] = [];
  /** Events whose delivery failed and that no DLQ took. */
  readonly lost: DeadLetteredEvent[] = [];
  endpoint?: Endpoint;
  /** `ListRules` calls answered. */
  ruleListings = 0;
  /** While set, PutEvents fails with this error (an outage or throttling). */
  outage?: AwsError;

  constructor(
    readonly core: Core,
    readonly lambda: LambdaRuntime,
    readonly sqs: FakeSqs,
  ) {
    this.buses.set('default', this.#busArn('default'));
  }

  #busArn(name: string) {
    return `arn:aws:events:${this.core.region}:${this.core.account}:event-bus/${name}`;
  }

  async start(): Promise<void> {
    this.endpoint = await startEndpoint(this.core, {
      signingName: 'events',
      protocol: 'json',
      handle: async (request) => jsonResponse(await this.#handle(request)),
    });
  }

  createBus(name: string): string {
    const arn = this.#busArn(name);
    this.buses.set(name, arn);
    return arn;
  }

  createRule(rule: FakeRule): void {
    this.rules.set(rule.arn, rule);
  }

  #busName(nameOrArn: string | undefined): string {
    const name = (nameOrArn ?? 'default').replace(/^arn:aws:events:[^:]+:\d+:event-bus\//, '');
    if (!this.buses.has(name)) throw new AwsError('ResourceNotFoundException', `Event bus ${name} does not exist.`);
    return name;
  }

  async #handle(request: FakeRequest): Promise<unknown> {
    const { operation, input } = jsonOperation(request);
    if (operation === 'ListRules') return this.#listRules(request, input);
    if (operation !== 'PutEvents')
      throw new AwsError('UnknownOperationException', `harness: EventBridge ${operation} is not implemented`);
    const entries = (input.Entries ?? []) as Record<string, unknown>[];
    if (entries.length < 1 || entries.length > 10) {
      throw new AwsError(
        'ValidationException',
        "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10",
      );
    }
    for (const entry of entries) {
      const bus = this.#busName(entry.EventBusName as string | undefined);
      await authorize(
        this.core,
        'events',
        { code: 'AccessDeniedException', status: 400 },
        request.caller,
        'events:PutEvents',
        this.buses.get(bus)!,
        {
          context: {
            ...(entry.Source ? { 'events:source': String(entry.Source) } : {}),
            ...(entry.DetailType ? { 'events:detail-type': String(entry.DetailType) } : {}),
          },
        },
      );
    }
    if (this.outage) throw this.outage;
    const results = entries.map((entry) => {
      let detail: unknown;
      try {
        detail = JSON.parse(String(entry.Detail ?? '{}'));
      } catch {
        return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
      }
      if (!entry.Source || !entry.DetailType)
        return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Parameter Source and DetailType are required.' };
      if (Buffer.byteLength(JSON.stringify(entry)) > 262_144)
        return { ErrorCode: 'EntrySizeExceeded', ErrorMessage: 'Entry size exceeded.' };
      const id = randomUUID();
      const bus = this.#busName(entry.EventBusName as string | undefined);
      const event = {
        version: '0',
        id,
        'detail-type': entry.DetailType,
        source: entry.Source,
        account: this.core.account,
        time: new Date(this.core.clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        region: this.core.region,
        resources: (entry.Resources ?? []) as string[],
        detail,
      };
      this.events.push({
        id,
        bus,
        event,
        ...(request.caller.functionName ? { function: request.caller.functionName } : {}),
      });
      this.#route(bus, event);
      return { EventId: id };
    });
    return { FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results };
  }

  /**
   * `ListRules` of a bus (authorized as `events:ListRules` on `*`: the action has no resource types), in pages of
   * `Limit` (100 by default) with a `NextToken`, each rule with its pattern as a string and its state.
   */
  async #listRules(request: FakeRequest, input: Record<string, unknown>): Promise<unknown> {
    await authorize(
      this.core,
      'events',
      { code: 'AccessDeniedException', status: 400 },
      request.caller,
      'events:ListRules',
      '*',
    );
    const bus = this.#busName(input.EventBusName as string | undefined);
    const all = [...this.rules.values()]
      .filter((rule) => rule.bus === bus)
      .sort((a, b) => a.name.localeCompare(b.name));
    const from = input.NextToken ? Number(input.NextToken) : 0;
    const limit = Number(input.Limit ?? 100);
    const page = all.slice(from, from + limit);
    this.ruleListings++;
    return {
      Rules: page.map((rule) => ({
        Name: rule.name,
        Arn: rule.arn,
        EventBusName: bus,
        EventPattern: JSON.stringify(rule.pattern),
        State: rule.enabled ? 'ENABLED' : 'DISABLED',
      })),
      ...(from + limit < all.length ? { NextToken: String(from + limit) } : {}),
    };
  }

  /** Hands an event to the targets of every enabled rule on its bus that matches it. */
  #route(bus: string, event: Record<string, unknown>): void {
    for (const rule of this.rules.values()) {
      if (rule.bus !== bus || !rule.enabled || !matchesPattern(rule.pattern as never, event as never)) continue;
      for (const target of rule.targets) {
        const input =
          target.Input !== undefined
            ? target.Input
            : target.InputPath !== undefined
              ? JSON.stringify(selectPath(event as never, target.InputPath) ?? null)
              : target.InputTransformer
                ? transformInput(target.InputTransformer, event as never, {
                    arn: rule.arn,
                    name: rule.name,
                    ingestionTime: String(event.time),
                  })
                : JSON.stringify(event);
        this.core.track(this.#deliver(rule, target, event, input, 0, this.core.clock.now()));
      }
    }
  }

  async #deliver(
    rule: FakeRule,
    target: FakeRule['targets'][number],
    event: unknown,
    input: string,
    retries: number,
    since: number,
  ): Promise<void> {
    const maxRetries = target.RetryPolicy?.MaximumRetryAttempts ?? 185;
    const maxAge = (target.RetryPolicy?.MaximumEventAgeInSeconds ?? 86_400) * 1000;
    let error: { code: string; message: string; retryable: boolean };
    try {
      await this.#invoke(rule, target, input);
      return;
    } catch (e) {
      error = classifyInvokeError(e, (x): x is AwsError => x instanceof AwsError);
    }
    // EventBridge backs off exponentially with jitter; the harness uses the exponential part (1 s, 2 s, 4 s, ... 5 min).
    const delay = Math.min(1000 * 2 ** retries, 300_000);
    if (error.retryable && retries < maxRetries && this.core.clock.now() + delay - since <= maxAge) {
      this.core.clock.at(this.core.clock.now() + delay, `eventbridge retry of ${rule.name}`, () =>
        this.#deliver(rule, target, event, input, retries + 1, since),
      );
      return;
    }
    const letter = { rule: rule.arn, target: target.Arn, errorCode: error.code, event };
    if (!target.DeadLetterConfig) {
      this.lost.push(letter);
      return;
    }
    try {
      await this.sqs.sendAs(
        SERVICE,
        target.DeadLetterConfig.Arn,
        input,
        {
          RULE_ARN: { DataType: 'String', StringValue: rule.arn },
          TARGET_ARN: { DataType: 'String', StringValue: target.Arn },
          ERROR_CODE: { DataType: 'String', StringValue: error.code },
          ERROR_MESSAGE: { DataType: 'String', StringValue: error.message },
        },
        { 'aws:SourceArn': rule.arn, 'aws:SourceAccount': this.core.account },
      );
    } catch {
      this.lost.push(letter);
    }
  }

  async #invoke(rule: FakeRule, target: FakeRule['targets'][number], input: string): Promise<void> {
    const payload = JSON.parse(input) as unknown;
    if (target.Arn.startsWith('arn:aws:lambda:')) {
      const fn = this.lambda.find(target.Arn);
      if (!fn) throw new LambdaServiceError('ResourceNotFoundException', `Function not found: ${target.Arn}`, false);
      await authorize(
        this.core,
        'lambda',
        { code: 'AccessDeniedException', status: 403 },
        SERVICE,
        'lambda:InvokeFunction',
        fn.arn,
        {
          resourcePolicy: this.functionPolicy(fn.arn),
          context: { 'aws:SourceArn': rule.arn, 'aws:SourceAccount': this.core.account },
        },
      );
      this.lambda.invokeAsync(fn.arn, payload);
      return;
    }
    if (target.Arn.startsWith('arn:aws:sqs:')) {
      await this.sqs.sendAs(
        SERVICE,
        target.Arn,
        input,
        {},
        { 'aws:SourceArn': rule.arn, 'aws:SourceAccount': this.core.account },
      );
      return;
    }
    throw new AwsError('InternalFailure', `harness: target ${target.Arn} is not supported`);
  }

  /** The resource policy of a function (its AWS::Lambda::Permission resources), set by the cloud. */
  functionPolicy: (functionArn: string) => { Version: string; Statement: Record<string, unknown>[] } = () => ({
    Version: '2012-10-17',
    Statement: [],
  });

  async stop(): Promise<void> {
    await this.endpoint?.close();
  }
}
