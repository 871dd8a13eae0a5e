import { KMSClient } from '@aws-sdk/client-kms';
import type { BaseAwsDeps } from '../aws-deps.ts';
import { keysetStore } from '../dynamodb/directory.ts';
import { KmsKeyVault } from '../kms-keys.ts';
import { TenantKeys } from '../tenant-keys.ts';
import { AWS_ENV, type Env, required } from './env.ts';

/**
 * The tenants' keys in AWS: keysets in the directory table, wrapped keys sealed under the deployment's KMS key and
 * opened once per cold start, `kms` keys signing in KMS.
 */
export const tenantKeys = (env: Env, base: BaseAwsDeps) =>
  new TenantKeys({
    keysets: keysetStore(base.tables),
    vault: new KmsKeyVault({
      client: new KMSClient({}),
      sealingKeyId: required(env, AWS_ENV.keySealingKey),
      deployment: required(env, AWS_ENV.deployment),
    }),
    clock: base.clock,
    logger: base.logger,
  });
