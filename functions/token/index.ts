import { eventBus } from '../../lib/adapters/aws/events.ts';
import { tenantKeys } from '../../lib/adapters/aws/keys.ts';
import { outbound } from '../../lib/adapters/aws/outbound.ts';
import { clients, polls, refreshTokens, replay, revocations, tenants, users } from '../../lib/adapters/aws/store.ts';
import { awsDeps } from '../../lib/adapters/aws-deps.ts';
import { createHandler } from './handler.ts';

export const handler = createHandler(
  awsDeps({
    clients,
    polls,
    refreshTokens,
    replay,
    revocations,
    tenants,
    users,
    keys: tenantKeys,
    events: eventBus,
    outbound,
  }),
);
