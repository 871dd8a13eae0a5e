import { tenantKeys } from '../../lib/adapters/aws/keys.ts';
import { clients, revocations, tenants, users } from '../../lib/adapters/aws/store.ts';
import { awsDeps } from '../../lib/adapters/aws-deps.ts';
import { createHandler } from './handler.ts';

export const handler = createHandler(awsDeps({ clients, revocations, tenants, users, keys: tenantKeys }));
