import { KMSClient } from '@aws-sdk/client-kms';
import { AWS_ENV } from '../../lib/adapters/aws/env.ts';
import { tenantKeys } from '../../lib/adapters/aws/keys.ts';
import { pushPlatforms } from '../../lib/adapters/aws/push-platforms.ts';
import { secretReader } from '../../lib/adapters/aws/secrets.ts';
import { keysets } from '../../lib/adapters/aws/store.ts';
import { awsDeps } from '../../lib/adapters/aws-deps.ts';
import { tenantStore } from '../../lib/adapters/dynamodb/directory.ts';
import { legacyKeyset, listLegacyKeys } from '../../lib/adapters/kms-keys.ts';
import { createHandler } from './handler.ts';

// Tenants read without the settings cache: provisioning writes them, each conditional on the version it read.
const deps = awsDeps({
  tenants: (_env, base) => tenantStore(base.tables),
  keysets,
  keys: tenantKeys,
  platforms: pushPlatforms,
});
// The stateful stack's instance imports the keys of deployments before keysets.
const legacyPrefix = process.env[AWS_ENV.legacyKeyAliasPrefix];
const kms = new KMSClient({});

export const handler = createHandler({
  ...deps,
  readSecret: secretReader(),
  ...(legacyPrefix
    ? {
        legacyKeys: {
          list: () => listLegacyKeys(kms, legacyPrefix),
          keyset: (tenantId, legacy, alg, now) => legacyKeyset(kms, tenantId, legacy, alg, now),
        },
      }
    : {}),
});
