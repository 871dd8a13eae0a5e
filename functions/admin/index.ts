import { eventBus } from '../../lib/adapters/aws/events.ts';
import { kmsKeys } from '../../lib/adapters/aws/keys.ts';
import { outbound } from '../../lib/adapters/aws/outbound.ts';
import { clients, devices, passkeys, requests, tenants, tickets, users } from '../../lib/adapters/aws/store.ts';
import { awsDeps } from '../../lib/adapters/aws-deps.ts';
import { createHandler } from './handler.ts';

export const handler = createHandler(
  awsDeps({ clients, devices, passkeys, requests, tenants, tickets, users, keys: kmsKeys, events: eventBus, outbound }),
);
