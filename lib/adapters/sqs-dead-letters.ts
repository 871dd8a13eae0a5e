import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DeadLetterRecord, DeadLetters } from '../ports.ts';

export interface SqsDeadLettersOptions {
  client: SQSClient;
  queueUrl: string;
}

/** The dead letter as the queue holds it: snake_case, epoch seconds; never a body, token or secret. */
export const deadLetterMessage = (record: DeadLetterRecord) => ({
  tenant_id: record.tenantId,
  txn: record.txn,
  client_id: record.clientId,
  delivery_mode: record.deliveryMode,
  kind: record.kind,
  endpoint: record.endpoint,
  reason: record.reason,
  attempts: record.attempts.map((a) => ({
    attempt: a.attempt,
    at: Math.floor(a.at / 1000),
    ...(a.status !== undefined ? { status: a.status } : {}),
    ...(a.error !== undefined ? { error: a.error } : {}),
  })),
  failed_at: Math.floor(record.failedAt / 1000),
});

/** Callbacks given up on, as messages on an SQS queue (the callback dead-letter queue). */
export class SqsDeadLetters implements DeadLetters {
  readonly #client: SQSClient;
  readonly #queueUrl: string;

  constructor(options: SqsDeadLettersOptions) {
    this.#client = options.client;
    this.#queueUrl = options.queueUrl;
  }

  async put(record: DeadLetterRecord): Promise<void> {
    await this.#client.send(
      new SendMessageCommand({
        QueueUrl: this.#queueUrl,
        MessageBody: JSON.stringify(deadLetterMessage(record)),
        MessageAttributes: {
          tenant_id: { DataType: 'String', StringValue: record.tenantId },
          delivery_mode: { DataType: 'String', StringValue: record.deliveryMode },
        },
      }),
    );
  }
}
