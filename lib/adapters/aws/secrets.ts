import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/**
 * Reads a secret's string from Secrets Manager (deployment-time custom resources only: push platform credentials,
 * Web Push VAPID keys). The value never reaches a log or a resource property.
 */
export const secretReader = (client = new SecretsManagerClient({})) => {
  return async (secretId: string): Promise<string> => {
    const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    if (!out.SecretString) throw new Error('the secret has no SecretString');
    return out.SecretString;
  };
};
