import { eventBus } from '../../lib/adapters/aws/events.ts';
import { tenantKeys } from '../../lib/adapters/aws/keys.ts';
import { outbound } from '../../lib/adapters/aws/outbound.ts';
import { pushPlatforms } from '../../lib/adapters/aws/push-platforms.ts';
import {
  clients,
  devices,
  passkeys,
  requests,
  shields,
  tenants,
  tickets,
  users,
} from '../../lib/adapters/aws/store.ts';
import { awsDeps } from '../../lib/adapters/aws-deps.ts';
import { createHandler } from './handler.ts';

export const handler = createHandler(
  awsDeps({
    clients,
    devices,
    passkeys,
    requests,
    shields,
    tenants,
    tickets,
    users,
    keys: tenantKeys,
    platforms: pushPlatforms,
    events: eventBus,
    outbound,
  }),
);
