import { Logger as PowertoolsBaseLogger } from '@aws-lambda-powertools/logger';
import { SNSClient } from '@aws-sdk/client-sns';
import { PowertoolsLogger } from '../../lib/adapters/powertools-logger.ts';
import { createHandler } from './handler.ts';

/**
 * The Secrets Manager client is not a dependency of this project: the Lambda Node.js runtime provides the
 * AWS SDK v3, and this one-off deployment helper loads it from there (the name is kept out of the bundle).
 */
const SECRETS_MANAGER_MODULE: string = '@aws-sdk/client-secrets-manager';

interface SecretsManagerModule {
  SecretsManagerClient: new (config: object) => { send(command: unknown): Promise<{ SecretString?: string }> };
  GetSecretValueCommand: new (input: { SecretId: string }) => unknown;
}

const readSecret = async (secretArn: string): Promise<string> => {
  const { SecretsManagerClient, GetSecretValueCommand } = (await import(
    SECRETS_MANAGER_MODULE
  )) as SecretsManagerModule;
  const out = await new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: secretArn }));
  if (!out.SecretString) throw new Error('the push credentials secret has no SecretString');
  return out.SecretString;
};

export const handler = createHandler({
  sns: new SNSClient({}),
  readSecret,
  logger: new PowertoolsLogger(new PowertoolsBaseLogger({ serviceName: 'ciba-push-platforms' })),
});
