import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import * as z from 'zod';
import { EVENT, eventDetail } from '../events.ts';
import type { CibaEvent, DecisionRetries } from '../ports.ts';

/**
 * A decision letter: what the decision-retries queue and its dead-letter queue (the decision-failures queue) hold for
 * a decision whose `CIBA Request Decided` is not published yet. It names the tenant and carries the event's detail
 * (txn, client, subject, status, delivery mode, decision time; never a token or the binding message), so it can be
 * published again as it is (docs/deploy.md "The decision stream").
 */
export const decisionLetter = (event: CibaEvent) => ({
  detail_type: event.type,
  tenant_id: event.tenantId,
  txn: event.detail.txn,
  status: event.detail.status,
  delivery_mode: event.detail.delivery_mode,
  detail: eventDetail(event),
});

const LETTER = z.object({
  detail_type: z.literal(EVENT.requestDecided),
  tenant_id: z.string().min(1),
  detail: z.looseObject({ txn: z.string().min(1), status: z.string(), delivery_mode: z.string() }),
});

/** The event a decision letter carries, or undefined for any other message (a Lambda failure record, say). */
export const eventOfLetter = (body: string): CibaEvent | undefined => {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  const letter = LETTER.safeParse(json);
  if (!letter.success) return undefined;
  const { tenant_id: _tenant, ...detail } = letter.data.detail;
  return { type: letter.data.detail_type, tenantId: letter.data.tenant_id, detail };
};

export interface SqsDecisionRetriesOptions {
  client: SQSClient;
  queueUrl: string;
}

/** Decision letters sent to the decision-retries queue, with the tenant and delivery mode as message attributes too. */
export class SqsDecisionRetries implements DecisionRetries {
  readonly #client: SQSClient;
  readonly #queueUrl: string;

  constructor(options: SqsDecisionRetriesOptions) {
    this.#client = options.client;
    this.#queueUrl = options.queueUrl;
  }

  async hand(event: CibaEvent): Promise<void> {
    await this.#client.send(
      new SendMessageCommand({
        QueueUrl: this.#queueUrl,
        MessageBody: JSON.stringify(decisionLetter(event)),
        MessageAttributes: {
          tenant_id: { DataType: 'String', StringValue: event.tenantId },
          delivery_mode: { DataType: 'String', StringValue: String(event.detail.delivery_mode) },
        },
      }),
    );
  }
}
