import { createHash, randomUUID } from 'node:crypto';
import type { Caller, PolicyDocument } from '../iam.ts';
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

/**
 * SQS (JSON protocol, as the installed client speaks it): the template's queues with their queue policies
 * (AWS::SQS::QueuePolicy, evaluated with the caller's policies), messages kept in order for the tests to read.
 * Services that send on their own (an EventBridge rule's DLQ, Scheduler's DLQ, a Lambda on-failure destination) go
 * through `sendAs` with their own principal. Queue URLs point at this endpoint (the SDK sends to a queue URL's host).
 *
 * A queue an event source mapping consumes (test/aws/event-source-mapping.ts QueueMapping) has what that needs: each
 * message's receive count and the time it is visible again (the queue's VisibilityTimeout after a receive), and its
 * RedrivePolicy, which moves a message received maxReceiveCount times to the dead-letter queue (by SQS itself, no
 * caller's permission).
 *
 * StartMessageMoveTask moves a dead-letter queue's messages back (at once).
 *
 * Not covered: FIFO queues, delays, long polling; the visibility of messages read by ReceiveMessage (the tests read
 * the queues).
 */

export interface FakeMessage {
  messageId: string;
  body: string;
  attributes: Record<string, { DataType: string; StringValue?: string; BinaryValue?: string }>;
  sentAt: number;
  /** Receives by an event source mapping so far, and when the message is visible again after the last. */
  receiveCount?: number;
  visibleAt?: number;
}

export interface FakeQueue {
  name: string;
  arn: string;
  url: string;
  policy?: PolicyDocument;
  messages: FakeMessage[];
  /** VisibilityTimeout (seconds, 30 by default). */
  visibilityTimeoutSeconds: number;
  redrive?: { deadLetterTargetArn: string; maxReceiveCount: number };
  /** Called after each message put (an event source mapping's wake-up). */
  listeners: Set<() => void>;
}

const md5 = (data: Buffer | string) => createHash('md5').update(data).digest('hex');

/** MD5OfMessageAttributes as SQS computes it (the SDK checks it). */
const attributesMd5 = (attributes: FakeMessage['attributes']): string => {
  const parts: Buffer[] = [];
  const put = (value: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(value.length);
    parts.push(length, value);
  };
  for (const name of Object.keys(attributes).sort()) {
    const a = attributes[name]!;
    put(Buffer.from(name));
    put(Buffer.from(a.DataType));
    const binary = a.DataType.startsWith('Binary');
    parts.push(Buffer.from([binary ? 2 : 1]));
    put(binary ? Buffer.from(a.BinaryValue ?? '', 'base64') : Buffer.from(a.StringValue ?? ''));
  }
  return md5(Buffer.concat(parts));
};

export class FakeSqs {
  readonly queues = new Map<string, FakeQueue>();
  endpoint?: Endpoint;
  /** While set, SendMessage calls fail with this error (an outage); services' own sends (sendAs) still arrive. */
  outage?: AwsError;

  constructor(readonly core: Core) {}

  async start(): Promise<void> {
    this.endpoint = await startEndpoint(this.core, {
      signingName: 'sqs',
      protocol: 'json',
      errorOptions: { jsonVersion: '1.0', typePrefix: 'com.amazonaws.sqs#', queryCompatible: true },
      handle: async (request) => jsonResponse(await this.#handle(request), '1.0'),
    });
  }

  createQueue(
    name: string,
    options: { visibilityTimeoutSeconds?: number; redrive?: FakeQueue['redrive'] } = {},
  ): FakeQueue {
    const queue: FakeQueue = {
      name,
      arn: `arn:aws:sqs:${this.core.region}:${this.core.account}:${name}`,
      url: `${this.endpoint!.url}/${this.core.account}/${name}`,
      messages: [],
      visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? 30,
      ...(options.redrive ? { redrive: options.redrive } : {}),
      listeners: new Set(),
    };
    this.queues.set(queue.arn, queue);
    return queue;
  }

  byUrl(url: string): FakeQueue {
    const queue = [...this.queues.values()].find(
      (q) => q.url === url || url.endsWith(`/${this.core.account}/${q.name}`),
    );
    if (!queue) throw new AwsError('AWS.SimpleQueueService.NonExistentQueue', 'The specified queue does not exist.');
    return queue;
  }

  byArn(arn: string): FakeQueue {
    const queue = this.queues.get(arn);
    if (!queue) throw new AwsError('AWS.SimpleQueueService.NonExistentQueue', 'The specified queue does not exist.');
    return queue;
  }

  /** A send by a principal (a role, or a service on behalf of a resource), authorized like any other. */
  async sendAs(
    caller: Caller,
    queueArn: string,
    body: string,
    attributes: FakeMessage['attributes'] = {},
    context: Record<string, string> = {},
  ): Promise<FakeMessage> {
    const queue = this.byArn(queueArn);
    await authorize(this.core, 'sqs', { code: 'AccessDenied', status: 403 }, caller, 'sqs:SendMessage', queue.arn, {
      ...(queue.policy ? { resourcePolicy: queue.policy } : {}),
      context,
    });
    return this.#put(queue, body, attributes);
  }

  /** SQS's redrive: the message leaves its queue for the dead-letter queue, as it is (body and attributes). */
  redrive(queue: FakeQueue, message: FakeMessage): void {
    if (!queue.redrive) throw new Error(`harness: queue ${queue.name} has no redrive policy`);
    queue.messages = queue.messages.filter((m) => m !== message);
    this.#put(this.byArn(queue.redrive.deadLetterTargetArn), message.body, message.attributes);
  }

  #put(queue: FakeQueue, body: string, attributes: FakeMessage['attributes']): FakeMessage {
    if (Buffer.byteLength(body) > 262_144)
      throw new AwsError(
        'InvalidParameterValue',
        'One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes.',
      );
    const message = { messageId: randomUUID(), body, attributes, sentAt: this.core.clock.now() };
    queue.messages.push(message);
    for (const listener of queue.listeners) listener();
    return message;
  }

  async #handle(request: FakeRequest): Promise<unknown> {
    const { operation, input } = jsonOperation(request);
    const queue = () => this.byUrl(String(input.QueueUrl ?? ''));
    const check = async (q: FakeQueue, action: string) =>
      authorize(this.core, 'sqs', { code: 'AccessDenied', status: 403 }, request.caller, `sqs:${action}`, q.arn, {
        ...(q.policy ? { resourcePolicy: q.policy } : {}),
      });
    switch (operation) {
      case 'SendMessage': {
        const q = queue();
        await check(q, 'SendMessage');
        if (this.outage) throw this.outage;
        const attributes = (input.MessageAttributes ?? {}) as FakeMessage['attributes'];
        const body = String(input.MessageBody ?? '');
        if (!body) throw new AwsError('MissingParameter', 'The request must contain the parameter MessageBody.');
        const message = this.#put(q, body, attributes);
        return {
          MessageId: message.messageId,
          MD5OfMessageBody: md5(body),
          ...(Object.keys(attributes).length > 0 ? { MD5OfMessageAttributes: attributesMd5(attributes) } : {}),
        };
      }
      case 'ReceiveMessage': {
        const q = queue();
        await check(q, 'ReceiveMessage');
        const max = Number(input.MaxNumberOfMessages ?? 1);
        return {
          Messages: q.messages.slice(0, max).map((m) => ({
            MessageId: m.messageId,
            ReceiptHandle: m.messageId,
            Body: m.body,
            MD5OfBody: md5(m.body),
            MessageAttributes: m.attributes,
          })),
        };
      }
      case 'DeleteMessage': {
        const q = queue();
        await check(q, 'DeleteMessage');
        q.messages = q.messages.filter((m) => m.messageId !== input.ReceiptHandle);
        return {};
      }
      case 'GetQueueAttributes': {
        const q = queue();
        await check(q, 'GetQueueAttributes');
        return { Attributes: { QueueArn: q.arn, ApproximateNumberOfMessages: String(q.messages.length) } };
      }
      case 'StartMessageMoveTask': {
        // A dead-letter queue's redrive (AWS's "Start DLQ redrive"): its messages back to their source queue (the one
        // whose redrive policy names it) or to DestinationArn, as new messages. The caller needs StartMessageMoveTask,
        // ReceiveMessage, DeleteMessage and GetQueueAttributes on the source and SendMessage on the destination (SQS
        // guide, "Learn how to configure a dead-letter queue redrive"). The harness moves every message at once.
        const source = this.byArn(String(input.SourceArn ?? ''));
        for (const action of ['StartMessageMoveTask', 'ReceiveMessage', 'DeleteMessage', 'GetQueueAttributes'])
          await check(source, action);
        const destination = input.DestinationArn
          ? this.byArn(String(input.DestinationArn))
          : [...this.queues.values()].find((q) => q.redrive?.deadLetterTargetArn === source.arn);
        if (!destination)
          throw new AwsError('InvalidParameterValue', 'Source queue must be configured as a Dead Letter Queue.');
        await check(destination, 'SendMessage');
        const moved = source.messages;
        source.messages = [];
        for (const m of moved) this.#put(destination, m.body, m.attributes);
        return { TaskHandle: randomUUID() };
      }
      case 'GetQueueUrl': {
        const q = [...this.queues.values()].find((x) => x.name === input.QueueName);
        if (!q) throw new AwsError('AWS.SimpleQueueService.NonExistentQueue', 'The specified queue does not exist.');
        await check(q, 'GetQueueUrl');
        return { QueueUrl: q.url };
      }
      default:
        throw new AwsError('UnknownOperationException', `harness: SQS ${operation} is not implemented`);
    }
  }

  async stop(): Promise<void> {
    await this.endpoint?.close();
  }
}
