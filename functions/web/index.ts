import { channelSender } from '../../lib/adapters/aws/channels.ts';
import { deadLetters } from '../../lib/adapters/aws/dead-letters.ts';
import { eventBus } from '../../lib/adapters/aws/events.ts';
import { tenantKeys } from '../../lib/adapters/aws/keys.ts';
import { pushNotifier } from '../../lib/adapters/aws/notifier.ts';
import { outbound } from '../../lib/adapters/aws/outbound.ts';
import { scheduler } from '../../lib/adapters/aws/scheduler.ts';
import {
  admission,
  callbacks,
  clients,
  decisions,
  deviceProofs,
  devices,
  links,
  passkeys,
  polls,
  pushChannels,
  quotas,
  rateWindows,
  refreshTokens,
  replay,
  requests,
  revocations,
  tenants,
  tickets,
  users,
} from '../../lib/adapters/aws/store.ts';
import { awsDeps } from '../../lib/adapters/aws-deps.ts';
import { createHandler } from './handler.ts';

export const handler = createHandler(
  awsDeps({
    admission,
    callbacks,
    clients,
    decisions,
    deviceProofs,
    devices,
    links,
    passkeys,
    polls,
    pushChannels,
    quotas,
    rateWindows,
    refreshTokens,
    replay,
    requests,
    revocations,
    tenants,
    tickets,
    users,
    keys: tenantKeys,
    notifier: pushNotifier,
    sender: channelSender,
    events: eventBus,
    scheduler,
    deadLetters,
    outbound,
  }),
);
