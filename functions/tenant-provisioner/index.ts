import { Logger as PowertoolsBaseLogger } from '@aws-lambda-powertools/logger';
import { AWS_ENV, required } from '../../lib/adapters/aws/env.ts';
import { secretReader } from '../../lib/adapters/aws/secrets.ts';
import { createStoreClient } from '../../lib/adapters/dynamodb/client.ts';
import { tenantStore } from '../../lib/adapters/dynamodb/directory.ts';
import { tablesOf } from '../../lib/adapters/dynamodb/index.ts';
import { PowertoolsLogger } from '../../lib/adapters/powertools-logger.ts';
import { createHandler } from './handler.ts';

export const handler = createHandler({
  tenants: tenantStore(
    tablesOf({
      client: createStoreClient(),
      directoryTable: required(process.env, AWS_ENV.directoryTable),
      ledgerTable: required(process.env, AWS_ENV.ledgerTable),
    }),
  ),
  readSecret: secretReader(),
  clock: { now: Date.now },
  logger: new PowertoolsLogger(new PowertoolsBaseLogger({ serviceName: 'ciba-tenant-provisioner' })),
});
