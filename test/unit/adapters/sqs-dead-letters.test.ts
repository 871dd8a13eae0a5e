import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { SqsDeadLetters } from '../../../lib/adapters/sqs-dead-letters.ts';

const sqs = mockClient(SQSClient);
const QUEUE = 'https://sqs.eu-west-1.amazonaws.com/111122223333/ciba-callback-failures';
const AT = Date.UTC(2025, 5, 15, 12, 0, 0);

beforeEach(() => sqs.reset());

describe('SqsDeadLetters', () => {
  it('sends the dead letter as one JSON message, with the tenant and mode as attributes', async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
    await new SqsDeadLetters({ client: new SQSClient({ region: 'eu-west-1' }), queueUrl: QUEUE }).put({
      tenantId: 'acme',
      txn: 'AAAAAAAAAAAAAAAAAAAAAA',
      clientId: 'rp',
      deliveryMode: 'push',
      kind: 'tokens',
      endpoint: 'https://rp.example.com/cb',
      reason: 'HTTP 401: not retried',
      attempts: [
        { attempt: 1, at: AT, status: 503 },
        { attempt: 2, at: AT + 1_500, error: 'connection failed: ECONNRESET' },
        { attempt: 3, at: AT + 5_000, status: 401 },
      ],
      failedAt: AT + 5_000,
    });
    expect(sqs.commandCalls(SendMessageCommand)[0]!.args[0].input).toEqual({
      QueueUrl: QUEUE,
      MessageBody: JSON.stringify({
        tenant_id: 'acme',
        txn: 'AAAAAAAAAAAAAAAAAAAAAA',
        client_id: 'rp',
        delivery_mode: 'push',
        kind: 'tokens',
        endpoint: 'https://rp.example.com/cb',
        reason: 'HTTP 401: not retried',
        attempts: [
          { attempt: 1, at: AT / 1000, status: 503 },
          { attempt: 2, at: AT / 1000 + 1, error: 'connection failed: ECONNRESET' },
          { attempt: 3, at: AT / 1000 + 5, status: 401 },
        ],
        failed_at: AT / 1000 + 5,
      }),
      MessageAttributes: {
        tenant_id: { DataType: 'String', StringValue: 'acme' },
        delivery_mode: { DataType: 'String', StringValue: 'push' },
      },
    });
  });

  it('fails when the queue refuses the message, so the callback event is retried', async () => {
    sqs.on(SendMessageCommand).rejects(new Error('AccessDenied'));
    const letters = new SqsDeadLetters({ client: new SQSClient({ region: 'eu-west-1' }), queueUrl: QUEUE });
    await expect(
      letters.put({
        tenantId: 'acme',
        txn: 't',
        clientId: 'rp',
        deliveryMode: 'ping',
        kind: 'ping',
        endpoint: 'https://rp.example.com/cb',
        reason: 'x',
        attempts: [],
        failedAt: AT,
      }),
    ).rejects.toThrow('AccessDenied');
  });
});
