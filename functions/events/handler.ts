import middy from '@middy/core';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { decisionOf } from '../../lib/adapters/dynamodb/stream.ts';
import { publishDecision } from '../../lib/ciba/publish-decision.ts';
import type { Deps } from '../../lib/ports.ts';

/** The ports this function uses: its Lambda entry builds only these. */
export type EventsDeps = Pick<Deps, 'events' | 'scheduler' | 'clock' | 'logger'>;

/**
 * The ledger stream's consumer: each decision (a request item gone from pending to decided; the event source
 * mapping's filter lets only those through) becomes `CIBA Request Decided` on the bus, or, when the bus fails, the
 * callback's schedule (publishDecision). A record it could not publish is reported in `batchItemFailures` and the
 * batch stops there (a stream's records of one key are in order), so Lambda retries from it, within the mapping's
 * retries and record age, then sends it to the failure destination (docs/deploy.md "The decision stream").
 */
export const createHandler = (deps: EventsDeps) =>
  middy<DynamoDBStreamEvent, DynamoDBBatchResponse>().handler(async (event, context) => {
    deps.logger.addContext?.(context);
    const records = event.Records ?? [];
    for (const record of records) {
      const decision = decisionOf(record);
      if (!decision) continue;
      try {
        await publishDecision(deps, decision.request, decision.status, decision.decidedAt);
      } catch (error) {
        deps.logger.error('decision not published, the stream retries it', {
          tenant: decision.request.tenantId,
          txn: decision.request.txn,
          error,
        });
        // Lambda resumes the shard at the lowest sequence number reported: this record and every one after it.
        return { batchItemFailures: [{ itemIdentifier: record.dynamodb?.SequenceNumber ?? '' }] };
      }
    }
    return { batchItemFailures: [] };
  });
