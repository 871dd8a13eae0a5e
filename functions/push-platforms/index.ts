import { Logger as PowertoolsBaseLogger } from '@aws-lambda-powertools/logger';
import { SNSClient } from '@aws-sdk/client-sns';
import { secretReader } from '../../lib/adapters/aws/secrets.ts';
import { PowertoolsLogger } from '../../lib/adapters/powertools-logger.ts';
import { createHandler } from './handler.ts';

export const handler = createHandler({
  sns: new SNSClient({}),
  readSecret: secretReader(),
  logger: new PowertoolsLogger(new PowertoolsBaseLogger({ serviceName: 'ciba-push-platforms' })),
});
