import {
  type AttributeValue,
  BatchWriteItemCommand,
  DeleteItemCommand,
  type DeleteItemCommandInput,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateItemCommand,
  type UpdateItemCommandInput,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { expiryBucket } from '../dynamodb-schema.ts';

/**
 * What every module of the DynamoDB adapter shares: the tables, keys, expressions, conditional writes that become
 * `conflict` (never an SDK error in the core), queries and batch deletes.
 */

export type Item = Record<string, AttributeValue>;
// biome-ignore lint/suspicious/noExplicitAny: unmarshalled items are untyped until mapped
export type Raw = Record<string, any>;

/** The client and the two tables (lib/adapters/dynamodb-schema.ts). */
export interface Tables {
  client: DynamoDBClient;
  directory: string;
  ledger: string;
}

export const FAILED = Symbol('condition-failed');

const isConditionFailed = (err: unknown): boolean =>
  (err as { name?: string } | null)?.name === 'ConditionalCheckFailedException';

/** Runs a conditional write; a lost condition becomes FAILED, every other SDK error propagates. */
export async function attempt<T>(op: () => Promise<T>): Promise<T | typeof FAILED> {
  try {
    return await op();
  } catch (err) {
    if (isConditionFailed(err)) return FAILED;
    throw err;
  }
}

export const toItem = (value: Record<string, unknown>): Item =>
  marshall(value, { removeUndefinedValues: true, convertClassInstanceToMap: true });
export const fromItem = (item: Item): Raw => unmarshall(item);

/**
 * The expression part of a command: every `#name` used is aliased (so reserved words such as `status`, `interval` and
 * `ttl` need no care; `names` maps aliases whose attribute is not their own name, such as a client id in a map), and
 * only the values given, and used, are marshalled (DynamoDB refuses values an expression does not use).
 */
export function expression(
  parts: { update?: string; condition?: string; key?: string; filter?: string; projection?: string },
  values?: Record<string, unknown>,
  names: Record<string, string> = {},
) {
  const text = Object.values(parts).join(' ');
  const aliases: Record<string, string> = {};
  for (const [, name] of text.matchAll(/#([A-Za-z_][A-Za-z0-9_]*)/g)) {
    aliases[`#${name}`] = names[`#${name}`] ?? (name as string);
  }
  const tokens = new Set(text.match(/:[A-Za-z0-9_]+/g));
  const used = values && Object.fromEntries(Object.entries(values).filter(([name]) => tokens.has(name)));
  return {
    ...(parts.update !== undefined && { UpdateExpression: parts.update }),
    ...(parts.condition !== undefined && { ConditionExpression: parts.condition }),
    ...(parts.key !== undefined && { KeyConditionExpression: parts.key }),
    ...(parts.filter !== undefined && { FilterExpression: parts.filter }),
    ...(parts.projection !== undefined && { ProjectionExpression: parts.projection }),
    ...(Object.keys(aliases).length > 0 && { ExpressionAttributeNames: aliases }),
    ...(used && Object.keys(used).length > 0 && { ExpressionAttributeValues: toItem(used) }),
  };
}

export function updateExpression(clauses: { set?: string[]; remove?: string[]; add?: string[] }): string {
  const out: string[] = [];
  if (clauses.set?.length) out.push(`SET ${clauses.set.join(', ')}`);
  if (clauses.remove?.length) out.push(`REMOVE ${clauses.remove.join(', ')}`);
  if (clauses.add?.length) out.push(`ADD ${clauses.add.join(', ')}`);
  return out.join(' ');
}

/**
 * DynamoDB key limits. No item can have a longer key, so a lookup by one finds nothing; sent to DynamoDB it would be
 * a ValidationException (a 500 for what is only an unknown client id, hint or device id).
 */
const MAX_SORT_KEY_BYTES = 1024;
const MAX_PARTITION_KEY_BYTES = 2048;
export const fitsSortKey = (sk: string) => Buffer.byteLength(sk, 'utf8') <= MAX_SORT_KEY_BYTES;
export const fitsPartitionKey = (pk: string) => Buffer.byteLength(pk, 'utf8') <= MAX_PARTITION_KEY_BYTES;

export const ttlSeconds = (expiresAt: number) => Math.ceil(expiresAt / 1000);
/** The values `:ttl` and `:exp_bucket` of an update that sets an item's TTL (`#ttl = :ttl, #exp_bucket = :exp_bucket`). */
export const expiryValues = (ttl: number) => ({ ':ttl': ttl, ':exp_bucket': expiryBucket(ttl) });
/** An item's TTL with its expiry bucket (the local sweep's index: dynamodb-schema.ts by-expiry). */
export const expiring = (ttl: number) => ({ ttl, exp_bucket: expiryBucket(ttl) });

// Keys
export const tenantPk = (tenantId: string) => `T#${tenantId}`;
export const requestPk = (txn: string) => `REQ#${txn}`;
export const directoryKey = (tenantId: string, sk: string) => toItem({ pk: tenantPk(tenantId), sk });
export const ledgerKey = (pk: string) => toItem({ pk });

/** A directory item of the tenant (consistent read), or undefined; a key too long to exist is absent. */
export async function getDirectory(
  db: Tables,
  tenantId: string,
  sk: string,
  projection?: string,
): Promise<Raw | undefined> {
  if (!fitsSortKey(sk)) return undefined;
  return getDirectoryItem(db, directoryKey(tenantId, sk), projection);
}

/** A directory item by its whole key (consistent read), or undefined. */
export async function getDirectoryItem(db: Tables, key: Item, projection?: string): Promise<Raw | undefined> {
  const out = await db.client.send(
    new GetItemCommand({
      TableName: db.directory,
      Key: key,
      ConsistentRead: true,
      ...(projection && expression({ projection })),
    }),
  );
  return out.Item && fromItem(out.Item);
}

/** A ledger item by its key (consistent read), or undefined. */
export async function getLedger(db: Tables, pk: string): Promise<Raw | undefined> {
  const out = await db.client.send(
    new GetItemCommand({ TableName: db.ledger, Key: ledgerKey(pk), ConsistentRead: true }),
  );
  return out.Item && fromItem(out.Item);
}

/** null: create only if absent; a number: replace only if `updated_at` still holds it. */
export async function putItem(
  db: Tables,
  table: string,
  item: Raw,
  expectedUpdatedAt: number | null,
): Promise<'ok' | 'conflict'> {
  const condition =
    expectedUpdatedAt === null
      ? expression({ condition: 'attribute_not_exists(#pk)' })
      : expression({ condition: '#updated_at = :expected' }, { ':expected': expectedUpdatedAt });
  const result = await attempt(() =>
    db.client.send(new PutItemCommand({ TableName: table, Item: toItem(item), ...condition })),
  );
  return result === FAILED ? 'conflict' : 'ok';
}

/** A conditional update; the item after it (`ALL_NEW`) or before it (`ALL_OLD`) as asked, or FAILED. */
export async function update(
  db: Tables,
  input: Omit<UpdateItemCommandInput, 'ReturnValues'> & { ReturnValues?: 'ALL_NEW' | 'ALL_OLD' },
): Promise<Raw | typeof FAILED> {
  const out = await attempt(() => db.client.send(new UpdateItemCommand(input)));
  if (out === FAILED) return FAILED;
  return out.Attributes ? fromItem(out.Attributes) : {};
}

/** A conditional delete; the item as it was (`ALL_OLD`), `{}` without it, or FAILED. */
export async function remove(db: Tables, input: DeleteItemCommandInput): Promise<Raw | typeof FAILED> {
  const out = await attempt(() => db.client.send(new DeleteItemCommand(input)));
  if (out === FAILED) return FAILED;
  return out.Attributes ? fromItem(out.Attributes) : {};
}

export async function* query(db: Tables, input: QueryCommandInput): AsyncGenerator<Raw> {
  let start: Item | undefined;
  do {
    const out = await db.client.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
    for (const item of out.Items ?? []) yield fromItem(item);
    start = out.LastEvaluatedKey;
  } while (start);
}

const BATCH_WRITE_MAX = 25;

export async function batchDelete(db: Tables, table: string, keys: Item[]): Promise<void> {
  for (let i = 0; i < keys.length; i += BATCH_WRITE_MAX) {
    let requests: WriteRequest[] = keys.slice(i, i + BATCH_WRITE_MAX).map((Key) => ({ DeleteRequest: { Key } }));
    for (let attemptNo = 0; requests.length > 0; attemptNo++) {
      if (attemptNo > 0) {
        if (attemptNo > 8) throw new Error(`BatchWriteItem left ${requests.length} items unprocessed`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** attemptNo, 2_000)));
      }
      const out = await db.client.send(new BatchWriteItemCommand({ RequestItems: { [table]: requests } }));
      requests = out.UnprocessedItems?.[table] ?? [];
    }
  }
}
