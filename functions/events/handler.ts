import middy from '@middy/core';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent, SQSEvent, SQSRecord } from 'aws-lambda';
import { decisionOf } from '../../lib/adapters/dynamodb/stream.ts';
import { eventOfLetter } from '../../lib/adapters/sqs-decision-retries.ts';
import { publishDecidedEvent, withdrawDecidedTimers } from '../../lib/ciba/publish-decision.ts';
import { requestDecidedEvent } from '../../lib/events.ts';
import type { CibaEvent, DecisionRetries, Deps } from '../../lib/ports.ts';

/** The ports this function uses: its Lambda entry builds only these. */
export type EventsDeps = Pick<Deps, 'events' | 'scheduler' | 'clock' | 'logger'> & { retries: DecisionRetries };

type BatchItemFailures = DynamoDBBatchResponse['batchItemFailures'];

/** Logged for each try that could not publish a decision (the DecisionsNotPublished metric counts these lines). */
const notPublished = (deps: EventsDeps, event: CibaEvent, attempt: number, error: unknown) =>
  deps.logger.error('decision not published, tried again', {
    tenant: event.tenantId,
    txn: event.detail.txn,
    attempt,
    error,
  });

/**
 * The ledger stream's decisions (the mapping's filter lets only those through): each becomes `CIBA Request Decided`
 * on the bus, or, when the bus fails, the callback's schedule (publishDecidedEvent), while the request's timers that
 * have nothing left to do are withdrawn beside it (withdrawDecidedTimers). One it could not publish is handed to the
 * decision-retries queue as a decision letter (with its tenant), and the batch goes on: a decision that keeps failing
 * never holds its shard. Only when the queue refuses it too is the record reported in `batchItemFailures`, and the
 * batch stops there, so that Lambda retries the stream from it (the mapping's retries; then its failure record).
 */
const streamed = async (deps: EventsDeps, records: DynamoDBRecord[]): Promise<BatchItemFailures> => {
  for (const record of records) {
    const decision = decisionOf(record);
    if (!decision) continue;
    const event = requestDecidedEvent(decision.request, decision.status, decision.decidedAt);
    const [carried] = await Promise.all([carry(deps, event), withdrawDecidedTimers(deps, decision.request)]);
    // Lambda resumes the shard at the lowest sequence number reported: this record and every one after it.
    if (!carried) return [{ itemIdentifier: record.dynamodb?.SequenceNumber ?? '' }];
  }
  return [];
};

/** Publishes a streamed decision, or hands it to the retries queue: false when neither could be done. */
const carry = async (deps: EventsDeps, event: CibaEvent): Promise<boolean> => {
  try {
    await publishDecidedEvent(deps, event);
    return true;
  } catch (error) {
    notPublished(deps, event, 1, error);
  }
  try {
    await deps.retries.hand(event);
    return true;
  } catch (error) {
    deps.logger.error('decision not handed to the retries queue, the stream retries it', {
      tenant: event.tenantId,
      txn: event.detail.txn,
      error,
    });
    return false;
  }
};

/**
 * Decision letters of the decision-retries queue: each published again on its own; one that fails again is reported,
 * so SQS hands it back after the queue's visibility timeout, and after the queue's receive count moves it, as it is,
 * to the decision-failures queue (docs/deploy.md "The decision stream").
 */
const retried = async (deps: EventsDeps, records: SQSRecord[]): Promise<BatchItemFailures> => {
  const failures: BatchItemFailures = [];
  for (const record of records) {
    const event = eventOfLetter(record.body);
    if (!event) {
      // Not a letter (a message sent there by hand): left to end in the decision-failures queue, untouched.
      deps.logger.error('not a decision letter, left to the decision-failures queue', { messageId: record.messageId });
      failures.push({ itemIdentifier: record.messageId });
      continue;
    }
    try {
      await publishDecidedEvent(deps, event);
    } catch (error) {
      notPublished(deps, event, Number(record.attributes?.ApproximateReceiveCount ?? 1) + 1, error);
      failures.push({ itemIdentifier: record.messageId });
    }
  }
  return failures;
};

/** The events function: the ledger stream's records, or the decision-retries queue's messages. */
export const createHandler = (deps: EventsDeps) =>
  middy<DynamoDBStreamEvent | SQSEvent, DynamoDBBatchResponse>().handler(async (event, context) => {
    deps.logger.addContext?.(context);
    const records = (event.Records ?? []) as (DynamoDBRecord | SQSRecord)[];
    const fromQueue = records.some((r) => r.eventSource === 'aws:sqs');
    return {
      batchItemFailures: fromQueue
        ? await retried(deps, records as SQSRecord[])
        : await streamed(deps, records as DynamoDBRecord[]),
    };
  });
