import { eventBus } from '../../lib/adapters/aws/events.ts';
import { mobilePush } from '../../lib/adapters/aws/mobile-push.ts';
import { outbound } from '../../lib/adapters/aws/outbound.ts';
import { scheduler } from '../../lib/adapters/aws/scheduler.ts';
import {
  decisions,
  deviceProofs,
  devices,
  links,
  passkeys,
  pushChannels,
  replay,
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
    decisions,
    links,
    deviceProofs,
    devices,
    passkeys,
    pushChannels,
    replay,
    requests,
    shields,
    tenants,
    tickets,
    users,
    notifier: mobilePush,
    events: eventBus,
    scheduler,
    outbound,
  }),
);
