import { clients, deviceProofs, links, requests, tenants } from '../../lib/adapters/aws/store.ts';
import { awsDeps } from '../../lib/adapters/aws-deps.ts';
import { createHandler } from './handler.ts';

export const handler = createHandler(awsDeps({ clients, deviceProofs, links, requests, tenants }));
