import {
  type AttributeDefinition,
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { DIRECTORY_SCHEMA, LEDGER_SCHEMA, type TableSchema } from '../dynamodb-schema.ts';

export interface TableNames {
  directory: string;
  ledger: string;
}

/** The CreateTable input for one schema, with its local indexes (local mode creates tables): string keys, on demand. */
export function buildCreateTableInput(tableName: string, schema: TableSchema): CreateTableCommandInput {
  const attributes = new Map<string, 'S' | 'N'>([[schema.partitionKey, 'S']]);
  if (schema.sortKey) attributes.set(schema.sortKey, 'S');
  const indexes = [...schema.indexes, ...(schema.localIndexes ?? [])];
  for (const index of indexes) {
    attributes.set(index.partitionKey, 'S');
    if (index.sortKey) attributes.set(index.sortKey.name, index.sortKey.type);
  }
  const definitions: AttributeDefinition[] = [...attributes].map(([AttributeName, AttributeType]) => ({
    AttributeName,
    AttributeType,
  }));
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: definitions,
    KeySchema: [
      { AttributeName: schema.partitionKey, KeyType: 'HASH' },
      ...(schema.sortKey ? [{ AttributeName: schema.sortKey, KeyType: 'RANGE' as const }] : []),
    ],
    ...(indexes.length > 0 && {
      GlobalSecondaryIndexes: indexes.map((index) => ({
        IndexName: index.name,
        KeySchema: [
          { AttributeName: index.partitionKey, KeyType: 'HASH' as const },
          ...(index.sortKey ? [{ AttributeName: index.sortKey.name, KeyType: 'RANGE' as const }] : []),
        ],
        Projection: { ProjectionType: index.projection },
      })),
    }),
  };
}

/**
 * Creates the directory and ledger tables when missing and waits until both are ACTIVE.
 * `ttl` enables DynamoDB TTL on the ledger; dynalite has no `UpdateTimeToLive`, so local mode leaves it off
 * and sweeps expired items itself.
 */
export async function ensureTables(
  client: DynamoDBClient,
  names: TableNames,
  opts: { ttl?: boolean } = {},
): Promise<void> {
  const tables: [string, TableSchema][] = [
    [names.directory, DIRECTORY_SCHEMA],
    [names.ledger, LEDGER_SCHEMA],
  ];
  await Promise.all(tables.map(([name, schema]) => ensureTable(client, name, schema, opts.ttl === true)));
}

async function ensureTable(client: DynamoDBClient, name: string, schema: TableSchema, ttl: boolean): Promise<void> {
  if ((await tableStatus(client, name)) === undefined) {
    try {
      await client.send(new CreateTableCommand(buildCreateTableInput(name, schema)));
    } catch (err) {
      // Another process created it between our describe and create.
      if ((err as Error).name !== 'ResourceInUseException') throw err;
    }
  }
  await waitUntilActive(client, name);
  if (ttl && schema.ttlAttribute) {
    const current = await client.send(new DescribeTimeToLiveCommand({ TableName: name }));
    const status = current.TimeToLiveDescription?.TimeToLiveStatus;
    if (status !== 'ENABLED' && status !== 'ENABLING') {
      await client.send(
        new UpdateTimeToLiveCommand({
          TableName: name,
          TimeToLiveSpecification: { AttributeName: schema.ttlAttribute, Enabled: true },
        }),
      );
    }
  }
}

async function tableStatus(client: DynamoDBClient, name: string): Promise<string | undefined> {
  try {
    const out = await client.send(new DescribeTableCommand({ TableName: name }));
    return out.Table?.TableStatus ?? 'UNKNOWN';
  } catch (err) {
    if ((err as Error).name === 'ResourceNotFoundException') return undefined;
    throw err;
  }
}

async function waitUntilActive(client: DynamoDBClient, name: string, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 25;
  for (;;) {
    const status = await tableStatus(client, name);
    if (status === 'ACTIVE') return;
    if (Date.now() > deadline) throw new Error(`table ${name} is not ACTIVE (status ${status ?? 'absent'})`);
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 2_000);
  }
}
