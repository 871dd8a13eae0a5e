import { clients, deviceProofs, devices, links, requests, tenants, users } from '../../lib/adapters/aws/store.ts';
import { awsDeps } from '../../lib/adapters/aws-deps.ts';
import { createHandler } from './handler.ts';

export const handler = createHandler(awsDeps({ clients, deviceProofs, devices, links, requests, tenants, users }));
