import { type DynamoDBClient, GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { ApprovalLink, ApprovalLinks } from '../channel-ports.ts';
import type { WriteOutcome } from '../ports.ts';
import { expiryBucket } from './dynamodb-schema.ts';

/**
 * Approval links in the ledger table: `LINK#{sha256 of the secret}` holds the link, `LINKSENT#{txn}#{channel}` marks
 * that the request was sent by that channel (so a redelivered fallback never sends twice). The mark is written first,
 * only if absent, then the link (only if absent): a failure between the two loses that channel's one message, never
 * sends it twice. Both expire with the request (TTL `ttl`, plus the local sweep's `exp_bucket`). `SMSDAY#{tenant}#{day}`
 * counts a tenant's text messages of a UTC day against its cap.
 */
export class DynamoDbApprovalLinks implements ApprovalLinks {
  readonly #client: DynamoDBClient;
  readonly #table: string;

  constructor(options: { client: DynamoDBClient; ledgerTable: string }) {
    this.#client = options.client;
    this.#table = options.ledgerTable;
  }

  async issue(link: ApprovalLink): Promise<WriteOutcome> {
    const ttl = Math.ceil(link.expiresAt / 1000);
    const expiry = { ttl, exp_bucket: expiryBucket(ttl) };
    const absent = { ConditionExpression: 'attribute_not_exists(pk)' };
    const put = async (item: Record<string, unknown>): Promise<WriteOutcome> => {
      try {
        await this.#client.send(
          new PutItemCommand({ TableName: this.#table, Item: marshall({ ...item, ...expiry }), ...absent }),
        );
        return 'ok';
      } catch (error) {
        if ((error as { name?: string }).name === 'ConditionalCheckFailedException') return 'conflict';
        throw error;
      }
    };
    if ((await put({ pk: `LINKSENT#${link.txn}#${link.channel}`, created_at: link.createdAt })) !== 'ok') {
      return 'conflict';
    }
    return put({
      pk: `LINK#${link.hash}`,
      tenant_id: link.tenantId,
      txn: link.txn,
      sub: link.sub,
      channel: link.channel,
      created_at: link.createdAt,
      expires_at: link.expiresAt,
    });
  }

  async find(hash: string): Promise<ApprovalLink | undefined> {
    // A hash is 43 base64url characters; anything else names no link (and never reaches DynamoDB's key limits).
    if (!/^[A-Za-z0-9_-]{43}$/.test(hash)) return undefined;
    const out = await this.#client.send(
      new GetItemCommand({ TableName: this.#table, Key: marshall({ pk: `LINK#${hash}` }), ConsistentRead: true }),
    );
    if (!out.Item) return undefined;
    const raw = unmarshall(out.Item);
    return {
      hash,
      tenantId: raw.tenant_id,
      txn: raw.txn,
      sub: raw.sub,
      channel: raw.channel,
      createdAt: raw.created_at,
      expiresAt: raw.expires_at,
    };
  }

  async countText(tenantId: string, day: string, cap: number): Promise<boolean> {
    // One item per tenant and UTC day, kept two days (TTL).
    const ttl = Math.ceil(Date.parse(`${day}T00:00:00Z`) / 1000) + 2 * 86_400;
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#table,
          Key: marshall({ pk: `SMSDAY#${tenantId}#${day}` }),
          UpdateExpression: 'ADD #count :one SET #ttl = :ttl, #exp_bucket = :bucket',
          ConditionExpression: 'attribute_not_exists(#count) OR #count < :cap',
          ExpressionAttributeNames: { '#count': 'count', '#ttl': 'ttl', '#exp_bucket': 'exp_bucket' },
          ExpressionAttributeValues: marshall({ ':one': 1, ':cap': cap, ':ttl': ttl, ':bucket': expiryBucket(ttl) }),
        }),
      );
      return true;
    } catch (error) {
      if ((error as { name?: string }).name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }
}
