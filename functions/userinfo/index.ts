import { tenantKeys } from '../../lib/adapters/aws/keys.ts';
import { awsDeps } from '../../lib/adapters/aws-deps.ts';
import { createHandler } from './handler.ts';

export const handler = createHandler(awsDeps({ keys: tenantKeys }));
