import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DecidedStatus } from '../../events.ts';
import { type AuthRequest, DECIDED_STATUSES } from '../../model.ts';
import { requestPk } from './expression.ts';
import { requestItem } from './items.ts';

/**
 * Decisions in the ledger's DynamoDB stream (NEW_AND_OLD_IMAGES): a request item (`REQ#{txn}`) whose status went from
 * `pending` to a decided status. The stream's consumer (functions/events) puts `CIBA Request Decided` on the bus for
 * each, off the decision's critical path (docs/deploy.md "The decision stream").
 */

const REQUEST_KEY_PREFIX = requestPk('');
const STATUS = requestItem.attr('status');

/**
 * The event source mapping's filter (Lambda's filter syntax is EventBridge's event patterns), so that only decisions
 * invoke the consumer: an update of a request item whose old image is pending and whose new image is decided.
 */
export const DECISION_STREAM_FILTER = {
  eventName: ['MODIFY'],
  dynamodb: {
    Keys: { pk: { S: [{ prefix: REQUEST_KEY_PREFIX }] } },
    OldImage: { [STATUS]: { S: ['pending'] } },
    NewImage: { [STATUS]: { S: [...DECIDED_STATUSES] } },
  },
};

/** A stream record as Lambda hands it over (aws-lambda's DynamoDBRecord, binary values base64 in the JSON). */
export interface DecisionStreamRecord {
  eventName?: string;
  dynamodb?: {
    Keys?: Record<string, unknown>;
    OldImage?: Record<string, unknown>;
    NewImage?: Record<string, unknown>;
    SequenceNumber?: string;
    /** Epoch seconds of the write. */
    ApproximateCreationDateTime?: number;
  };
}

export interface StreamedDecision {
  request: AuthRequest;
  status: DecidedStatus;
  decidedAt: number;
}

/** Lambda's JSON of an attribute value back to the SDK's (`B` and `BS` are base64 text there, bytes here). */
const attributeValue = (value: unknown): AttributeValue => {
  const v = value as Record<string, unknown>;
  if (typeof v.B === 'string') return { B: Buffer.from(v.B, 'base64') };
  if (Array.isArray(v.BS)) return { BS: (v.BS as string[]).map((b) => Buffer.from(b, 'base64')) };
  if (Array.isArray(v.L)) return { L: v.L.map(attributeValue) };
  if (v.M && typeof v.M === 'object') return { M: image(v.M as Record<string, unknown>) };
  return value as AttributeValue;
};
const image = (raw: Record<string, unknown>): Record<string, AttributeValue> =>
  Object.fromEntries(Object.entries(raw).map(([name, value]) => [name, attributeValue(value)]));

const isDecided = (status: unknown): status is DecidedStatus =>
  (DECIDED_STATUSES as readonly unknown[]).includes(status);

/**
 * The decision a stream record carries (the request as the decision left it, through the adapter's own item
 * mapping), or undefined for any other change. The same test as DECISION_STREAM_FILTER, so a record the filter let
 * through by mistake is never published as a decision.
 */
export const decisionOf = (record: DecisionStreamRecord): StreamedDecision | undefined => {
  const { OldImage, NewImage } = record.dynamodb ?? {};
  if (record.eventName !== 'MODIFY' || !OldImage || !NewImage) return undefined;
  const before = unmarshall(image(OldImage));
  const after = unmarshall(image(NewImage));
  if (typeof after.pk !== 'string' || !after.pk.startsWith(REQUEST_KEY_PREFIX)) return undefined;
  if (before[STATUS] !== 'pending' || !isDecided(after[STATUS])) return undefined;
  const request = requestItem.fromItem(after);
  // Every decision sets decided_at (decisionStore.decide); the write's time stands in should one ever not.
  const decidedAt = request.decidedAt ?? (record.dynamodb?.ApproximateCreationDateTime ?? 0) * 1000;
  return { request, status: after[STATUS], decidedAt };
};
