import { Logger as PowertoolsBaseLogger } from '@aws-lambda-powertools/logger';
import { createStoreClient } from '../../lib/adapters/dynamodb-client.ts';
import { DynamoDbStore } from '../../lib/adapters/dynamodb-store.ts';
import { PowertoolsLogger } from '../../lib/adapters/powertools-logger.ts';
import { createHandler } from './handler.ts';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
};

export const handler = createHandler({
  directory: new DynamoDbStore({
    client: createStoreClient(),
    directoryTable: env('CIBA_DIRECTORY_TABLE'),
    ledgerTable: env('CIBA_LEDGER_TABLE'),
  }),
  clock: { now: Date.now },
  logger: new PowertoolsLogger(new PowertoolsBaseLogger({ serviceName: 'ciba-tenant-provisioner' })),
});
