import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DIRECTORY_TABLE_DEFAULT, LEDGER_TABLE_DEFAULT } from '../../lib/adapters/dynamodb-schema.ts';
import { DynamoDbStore } from '../../lib/adapters/dynamodb-store.ts';
import { type EmbeddedDynamoDb, startEmbeddedDynamoDb } from '../../lib/local/embedded-dynamodb.ts';

export interface TestStore {
  store: DynamoDbStore;
  client: DynamoDBClient;
  dynamodb: EmbeddedDynamoDb;
  stop(): Promise<void>;
}

/** The DynamoDB store on a fresh in-memory dynalite (random port). Call `stop()` in afterAll. */
export async function startTestStore(): Promise<TestStore> {
  const dynamodb = await startEmbeddedDynamoDb({ dataDir: 'memory' });
  const store = new DynamoDbStore({
    client: dynamodb.client,
    directoryTable: DIRECTORY_TABLE_DEFAULT,
    ledgerTable: LEDGER_TABLE_DEFAULT,
  });
  return { store, client: dynamodb.client, dynamodb, stop: () => dynamodb.stop() };
}
