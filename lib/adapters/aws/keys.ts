import { KMSClient } from '@aws-sdk/client-kms';
import type { BaseAwsDeps } from '../aws-deps.ts';
import { KmsKeys } from '../kms-keys.ts';
import { AWS_ENV, type Env, required } from './env.ts';

export const kmsKeys = (env: Env, base: BaseAwsDeps) =>
  new KmsKeys({ client: new KMSClient({}), aliasPrefix: required(env, AWS_ENV.kmsAliasPrefix), clock: base.clock });
