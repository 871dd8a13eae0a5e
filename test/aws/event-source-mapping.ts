import { randomUUID } from 'node:crypto';
import type { HarnessClock } from './clock.ts';
import type { Json } from './cloudformation.ts';
import { matchesPattern } from './event-pattern.ts';
import type { FakeStream, StreamRecord } from './fakes/dynamodb.ts';
import type { FakeMessage, FakeQueue, FakeSqs } from './fakes/sqs.ts';
import type { Caller, Decision } from './iam.ts';
import type { FunctionConfig, InvokeOutcome } from './lambda.ts';

/**
 * AWS::Lambda::EventSourceMapping: on a DynamoDB stream (StreamMapping) or an SQS queue (QueueMapping).
 *
 * On a DynamoDB stream, as Lambda runs one: it reads the stream's records in order
 * from where it started (LATEST: the tip at its creation; TRIM_HORIZON: the first record), drops those no filter
 * matches (FilterCriteria, EventBridge's pattern syntax), invokes the function synchronously with batches of up to
 * BatchSize, and on a function error, or with ReportBatchItemFailures on the lowest sequence number the function
 * reports, retries from there (backoff on the harness clock) until MaximumRetryAttempts or MaximumRecordAgeInSeconds,
 * then sends the batch's description to the on-failure destination and moves on. It reads with the function's role:
 * dynamodb:DescribeStream, GetShardIterator, GetRecords on the stream and ListStreams, checked when the mapping is
 * created (CloudFormation fails, as Lambda refuses the mapping) and before each read (a denial is recorded and nothing
 * is delivered). Not modelled: shards and their splits, parallelization, batching windows, the 24 h retention,
 * bisecting batches, tumbling windows.
 */

export interface MappingOptions {
  clock: HarnessClock;
  /** The caller of the function's role (its execution role session). */
  callerOf: (fn: FunctionConfig) => Caller;
  authorize: (caller: Caller, action: string, resource: string) => Promise<Decision>;
  invoke: (fn: FunctionConfig, event: unknown) => Promise<InvokeOutcome>;
  /** Sends the failure record to the destination (an SQS queue ARN) as the function's role. */
  sendToDestination: (fn: FunctionConfig, destination: string, record: unknown) => Promise<void>;
  track: (work: Promise<unknown>) => void;
}

const STREAM_READ = ['dynamodb:DescribeStream', 'dynamodb:GetShardIterator', 'dynamodb:GetRecords'];

/** What Lambda's CreateEventSourceMapping answers when the role cannot read the stream. */
const accessMessage = (arn: string) =>
  `Cannot access stream ${arn}. Please ensure the role can perform the GetRecords, GetShardIterator, DescribeStream, and ListStreams Actions on your stream in IAM.`;

/**
 * What both kinds of mapping share: woken by new records (after the write that added them has answered), a mapping
 * hands batches over one at a time, until `next` finds none to hand over now or it must wait for the clock.
 */
abstract class Poller {
  enabled = true;
  #running = false;
  #again = false;
  readonly #listener = () => this.wake();
  readonly #listeners: Set<() => void>;
  readonly #track: (work: Promise<unknown>) => void;

  constructor(listeners: Set<() => void>, track: (work: Promise<unknown>) => void) {
    this.#listeners = listeners;
    this.#track = track;
  }

  /** Hands over the next batch; false when there is nothing to hand over now. */
  protected abstract next(): Promise<boolean>;

  /** True while a retry waits for the clock (nothing is handed over until then). */
  protected waiting(): boolean {
    return false;
  }

  protected listen(): void {
    this.#listeners.add(this.#listener);
  }

  stop(): void {
    this.enabled = false;
    this.#listeners.delete(this.#listener);
  }

  protected wake(): void {
    this.#track(new Promise((resolve) => setImmediate(resolve)).then(() => this.pump()));
  }

  protected async pump(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    try {
      do {
        this.#again = false;
        while (this.enabled && !this.waiting() && (await this.next())) {
          // Until there is nothing to hand over, or a retry waits for the clock.
        }
      } while (this.#again && this.enabled && !this.waiting());
    } finally {
      this.#running = false;
    }
  }
}

export class StreamMapping extends Poller {
  readonly uuid = randomUUID();
  readonly #filters: Record<string, Json>[];
  readonly #batchSize: number;
  readonly #maxRetries: number;
  readonly #maxAgeMs: number;
  readonly #reportFailures: boolean;
  readonly #onFailure: string | undefined;
  /** The next record to hand over (an index in the stream's records). */
  #position: number;
  /** Invocations of the batch that starts at #position so far. */
  #attempts = 0;
  #retryQueued = false;
  /** Every batch handed to the function, with its outcome (for tests). */
  readonly batches: { sequenceNumbers: string[]; outcome: 'ok' | 'partial' | 'error' | 'denied' }[] = [];

  private constructor(
    readonly fn: FunctionConfig,
    readonly stream: FakeStream,
    props: Record<string, Json>,
    readonly options: MappingOptions,
  ) {
    super(stream.listeners, options.track);
    this.#filters = ((props.FilterCriteria as { Filters?: { Pattern: string }[] } | undefined)?.Filters ?? []).map(
      (f) => JSON.parse(f.Pattern) as Record<string, Json>,
    );
    this.#batchSize = Number(props.BatchSize ?? 100);
    // -1 (the default): until the record expires.
    this.#maxRetries = Number(props.MaximumRetryAttempts ?? -1);
    const age = Number(props.MaximumRecordAgeInSeconds ?? -1);
    this.#maxAgeMs = age < 0 ? 86_400_000 : age * 1000;
    this.#reportFailures = ((props.FunctionResponseTypes ?? []) as string[]).includes('ReportBatchItemFailures');
    this.#onFailure = (
      props.DestinationConfig as { OnFailure?: { Destination?: string } } | undefined
    )?.OnFailure?.Destination;
    const start = String(props.StartingPosition ?? '');
    if (start !== 'LATEST' && start !== 'TRIM_HORIZON')
      throw new Error(`EventSourceMapping: StartingPosition ${start}`);
    this.#position = start === 'LATEST' ? stream.records.length : 0;
  }

  /** Creates the mapping after checking, as Lambda does, that the function's role can read the stream. */
  static async create(
    fn: FunctionConfig,
    stream: FakeStream,
    props: Record<string, Json>,
    options: MappingOptions,
  ): Promise<StreamMapping> {
    const mapping = new StreamMapping(fn, stream, props, options);
    const denied = await mapping.#denied();
    if (denied.length > 0) throw new Error(`EventSourceMapping: ${accessMessage(stream.arn)} (${denied.join('; ')})`);
    mapping.listen();
    // Lambda polls from the start: records already there (TRIM_HORIZON) are read without waiting for a new one.
    mapping.wake();
    return mapping;
  }

  /** AWS's messages of the stream reads the function's role may not make (none: it can read the stream). */
  async #denied(): Promise<string[]> {
    const caller = this.options.callerOf(this.fn);
    const decisions = await Promise.all(
      [...STREAM_READ, 'dynamodb:ListStreams'].map((action) => this.options.authorize(caller, action, this.stream.arn)),
    );
    return decisions.filter((d) => !d.allowed).map((d) => d.message);
  }

  protected override waiting(): boolean {
    return this.#retryQueued;
  }

  protected async next(): Promise<boolean> {
    const records = this.stream.records;
    // Records no filter matches are dropped by Lambda before any batch (they never count as processed or failed).
    while (this.#position < records.length && !this.#matches(records[this.#position]!)) this.#position++;
    if (this.#position >= records.length) return false;
    const batch: StreamRecord[] = [];
    for (let i = this.#position; i < records.length && batch.length < this.#batchSize; i++) {
      if (this.#matches(records[i]!)) batch.push(records[i]!);
    }
    const expired = batch.filter((r) => this.#ageOf(r) > this.#maxAgeMs);
    if (expired.length > 0) {
      // Records past the maximum age are given up without an invocation.
      await this.#giveUp(expired, 'RecordAgeExceeded');
      return true;
    }
    if ((await this.#denied()).length > 0) {
      // The role lost a stream permission: nothing is read (the denial is recorded for expectNoDenials).
      this.batches.push({ sequenceNumbers: batch.map((r) => r.dynamodb.SequenceNumber), outcome: 'denied' });
      return false;
    }
    this.#attempts++;
    const outcome = await this.options.invoke(this.fn, { Records: batch });
    const failedFrom = this.#failedFrom(batch, outcome);
    this.batches.push({
      sequenceNumbers: batch.map((r) => r.dynamodb.SequenceNumber),
      outcome: failedFrom === undefined ? 'ok' : 'error' in outcome ? 'error' : 'partial',
    });
    if (failedFrom === undefined) {
      this.#advancePast(batch.at(-1)!);
      return true;
    }
    const retried = batch.slice(failedFrom);
    // Records before the lowest failed one are done; the failed one keeps its count of attempts.
    if (failedFrom > 0) this.#position = records.indexOf(retried[0]!);
    if (this.#maxRetries >= 0 && this.#attempts > this.#maxRetries) {
      await this.#giveUp(retried, 'RetryAttemptsExhausted');
      return true;
    }
    // Lambda retries the batch from the failed record; the harness waits 2^n seconds (at most a minute) between tries.
    const delay = Math.min(60_000, 1000 * 2 ** (this.#attempts - 1));
    this.#retryQueued = true;
    this.options.clock.at(this.options.clock.now() + delay, `stream retry ${this.#attempts} of ${this.fn.name}`, () => {
      this.#retryQueued = false;
      return this.pump();
    });
    return false;
  }

  #matches(record: StreamRecord): boolean {
    return this.#filters.length === 0 || this.#filters.some((f) => matchesPattern(f, record as unknown as Json));
  }

  #ageOf(record: StreamRecord): number {
    return this.options.clock.now() - record.dynamodb.ApproximateCreationDateTime * 1000;
  }

  #advancePast(record: StreamRecord): void {
    this.#position = this.stream.records.indexOf(record) + 1;
    this.#attempts = 0;
  }

  /**
   * The index in `batch` from which Lambda retries, or undefined when the batch succeeded: a function error retries
   * all of it; with ReportBatchItemFailures the lowest reported sequence number (an identifier that is not in the
   * batch, or empty, fails the whole batch, as Lambda treats it).
   */
  #failedFrom(batch: StreamRecord[], outcome: InvokeOutcome): number | undefined {
    if ('error' in outcome) return 0;
    if (!this.#reportFailures) return undefined;
    const failures = (outcome.result as { batchItemFailures?: { itemIdentifier?: string }[] } | null)
      ?.batchItemFailures;
    if (!failures || failures.length === 0) return undefined;
    const indexes = failures.map((f) => batch.findIndex((r) => r.dynamodb.SequenceNumber === f.itemIdentifier));
    return indexes.some((i) => i < 0) ? 0 : Math.min(...indexes);
  }

  /** The on-failure record of a DynamoDB stream mapping: the batch's shard and sequence numbers, not its records. */
  async #giveUp(records: StreamRecord[], condition: 'RetryAttemptsExhausted' | 'RecordAgeExceeded'): Promise<void> {
    const first = records[0]!;
    const last = records.at(-1)!;
    const attempts = this.#attempts;
    this.#advancePast(last);
    if (!this.#onFailure) return;
    const at = (r: StreamRecord) => new Date(r.dynamodb.ApproximateCreationDateTime * 1000).toISOString();
    await this.options.sendToDestination(this.fn, this.#onFailure, {
      requestContext: {
        requestId: randomUUID(),
        functionArn: this.fn.arn,
        condition,
        approximateInvokeCount: attempts,
      },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      version: '1.0',
      timestamp: new Date(this.options.clock.now()).toISOString(),
      DDBStreamBatchInfo: {
        shardId: 'shardId-00000000000000000000-00000000',
        startSequenceNumber: first.dynamodb.SequenceNumber,
        endSequenceNumber: last.dynamodb.SequenceNumber,
        approximateArrivalOfFirstRecord: at(first),
        approximateArrivalOfLastRecord: at(last),
        batchSize: records.length,
        streamArn: this.stream.arn,
      },
    });
  }
}

const QUEUE_READ = ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'];

/**
 * An event source mapping on an SQS queue, as Lambda runs one: it receives the queue's visible messages in batches of
 * up to BatchSize (each receive counts, and hides the message for the queue's visibility timeout), invokes the
 * function synchronously, and deletes what succeeded: all of the batch, or with ReportBatchItemFailures all but the
 * messages the function reports (a function error: none). A message not deleted is received again when it is visible
 * again (on the harness clock); one already received the redrive policy's maxReceiveCount times moves to the
 * dead-letter queue instead (SQS does that, with the message as it is). It receives with the function's role
 * (sqs:ReceiveMessage, DeleteMessage, GetQueueAttributes), checked when the mapping is created (Lambda refuses it) and
 * before each receive. Not modelled: batching windows, maximum concurrency, scaling, FIFO queues.
 */
export class QueueMapping extends Poller {
  readonly uuid = randomUUID();
  readonly #batchSize: number;
  readonly #reportFailures: boolean;
  /** Every batch handed to the function, with its outcome (for tests). */
  readonly batches: { messageIds: string[]; outcome: 'ok' | 'partial' | 'error' | 'denied' }[] = [];

  private constructor(
    readonly fn: FunctionConfig,
    readonly queue: FakeQueue,
    readonly sqs: FakeSqs,
    props: Record<string, Json>,
    readonly options: Omit<MappingOptions, 'sendToDestination'>,
  ) {
    super(queue.listeners, options.track);
    this.#batchSize = Number(props.BatchSize ?? 10);
    this.#reportFailures = ((props.FunctionResponseTypes ?? []) as string[]).includes('ReportBatchItemFailures');
  }

  static async create(
    fn: FunctionConfig,
    queue: FakeQueue,
    sqs: FakeSqs,
    props: Record<string, Json>,
    options: Omit<MappingOptions, 'sendToDestination'>,
  ): Promise<QueueMapping> {
    const mapping = new QueueMapping(fn, queue, sqs, props, options);
    const denied = await mapping.#denied();
    if (denied.length > 0) {
      // Lambda's CreateEventSourceMapping answer names the first action the role lacks.
      throw new Error(
        `EventSourceMapping: The provided execution role does not have permissions to call ${denied[0]!.action.replace('sqs:', '')} on SQS (${denied.map((d) => d.message).join('; ')})`,
      );
    }
    mapping.listen();
    mapping.wake();
    return mapping;
  }

  async #denied(): Promise<{ action: string; message: string }[]> {
    const caller = this.options.callerOf(this.fn);
    const decisions = await Promise.all(
      QUEUE_READ.map(async (action) => ({
        action,
        decision: await this.options.authorize(caller, action, this.queue.arn),
      })),
    );
    return decisions.filter((d) => !d.decision.allowed).map((d) => ({ action: d.action, message: d.decision.message }));
  }

  /** Receives and hands over the next batch of visible messages; false when there is none. */
  protected async next(): Promise<boolean> {
    const now = this.options.clock.now();
    const visible = () => this.queue.messages.filter((m) => (m.visibleAt ?? 0) <= this.options.clock.now());
    const redrive = this.queue.redrive;
    // SQS moves a message received maxReceiveCount times when it would be received once more.
    for (const message of visible()) {
      if (redrive && (message.receiveCount ?? 0) >= redrive.maxReceiveCount) this.sqs.redrive(this.queue, message);
    }
    const batch = visible().slice(0, this.#batchSize);
    if (batch.length === 0) return false;
    if ((await this.#denied()).length > 0) {
      this.batches.push({ messageIds: batch.map((m) => m.messageId), outcome: 'denied' });
      return false;
    }
    for (const message of batch) {
      message.receiveCount = (message.receiveCount ?? 0) + 1;
      message.visibleAt = now + this.queue.visibilityTimeoutSeconds * 1000;
    }
    const outcome = await this.options.invoke(this.fn, { Records: batch.map((m) => this.#record(m)) });
    const failed = this.#failed(batch, outcome);
    this.batches.push({
      messageIds: batch.map((m) => m.messageId),
      outcome: failed.length === 0 ? 'ok' : 'error' in outcome ? 'error' : 'partial',
    });
    this.queue.messages = this.queue.messages.filter((m) => !batch.includes(m) || failed.includes(m));
    for (const message of failed) {
      this.options.clock.at(message.visibleAt!, `${this.queue.name} message visible again for ${this.fn.name}`, () =>
        this.pump(),
      );
    }
    return true;
  }

  /** The messages not deleted: all on a function error; with ReportBatchItemFailures the reported ones. */
  #failed(batch: FakeMessage[], outcome: InvokeOutcome): FakeMessage[] {
    if ('error' in outcome) return batch;
    if (!this.#reportFailures) return [];
    const failures = (outcome.result as { batchItemFailures?: { itemIdentifier?: string }[] } | null)
      ?.batchItemFailures;
    if (!failures || failures.length === 0) return [];
    const ids = failures.map((f) => f.itemIdentifier);
    // An identifier that is not in the batch fails the whole batch, as Lambda treats it.
    if (ids.some((id) => !batch.some((m) => m.messageId === id))) return batch;
    return batch.filter((m) => ids.includes(m.messageId));
  }

  /** The record of an SQS event as Lambda builds it. */
  #record(message: FakeMessage) {
    return {
      messageId: message.messageId,
      receiptHandle: message.messageId,
      body: message.body,
      attributes: {
        ApproximateReceiveCount: String(message.receiveCount),
        SentTimestamp: String(message.sentAt),
        SenderId: 'AROAHARNESS',
        ApproximateFirstReceiveTimestamp: String(message.sentAt),
      },
      messageAttributes: Object.fromEntries(
        Object.entries(message.attributes).map(([name, a]) => [
          name,
          {
            dataType: a.DataType,
            ...(a.StringValue !== undefined ? { stringValue: a.StringValue } : {}),
            ...(a.BinaryValue !== undefined ? { binaryValue: a.BinaryValue } : {}),
            stringListValues: [],
            binaryListValues: [],
          },
        ]),
      ),
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: this.queue.arn,
      awsRegion: this.queue.arn.split(':')[3],
    };
  }
}
