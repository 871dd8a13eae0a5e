import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { dynamoDbStore } from '../../lib/adapters/dynamodb/index.ts';
import { localStoreOf } from '../../lib/adapters/dynamodb/local.ts';
import { DIRECTORY_TABLE_DEFAULT, LEDGER_TABLE_DEFAULT } from '../../lib/adapters/dynamodb-schema.ts';
import { type EmbeddedDynamoDb, startEmbeddedDynamoDb } from '../../lib/local/embedded-dynamodb.ts';
import type { LocalStore } from '../../lib/local/local-store.ts';
import type { StorePorts } from '../../lib/persistence.ts';

export interface TestStore {
  /** The persistence ports on the DynamoDB adapter. */
  store: StorePorts;
  /** What local mode asks of it besides (signing keys, dead letters, the sweep's and recovery's indexes). */
  local: LocalStore;
  client: DynamoDBClient;
  dynamodb: EmbeddedDynamoDb;
  stop(): Promise<void>;
}

/** The DynamoDB adapter on a fresh in-memory dynalite (random port). Call `stop()` in afterAll. */
export async function startTestStore(): Promise<TestStore> {
  const dynamodb = await startEmbeddedDynamoDb({ dataDir: 'memory' });
  const tables = {
    client: dynamodb.client,
    directoryTable: DIRECTORY_TABLE_DEFAULT,
    ledgerTable: LEDGER_TABLE_DEFAULT,
  };
  return {
    store: dynamoDbStore(tables),
    local: localStoreOf({ client: dynamodb.client, directory: DIRECTORY_TABLE_DEFAULT, ledger: LEDGER_TABLE_DEFAULT }),
    client: dynamodb.client,
    dynamodb,
    stop: () => dynamodb.stop(),
  };
}
