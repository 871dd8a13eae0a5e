import { SNSClient } from '@aws-sdk/client-sns';
import type { BaseAwsDeps } from '../aws-deps.ts';
import { SnsDeviceNotifier } from '../sns-device-notifier.ts';
import { WebPushDeviceNotifier } from '../web-push-device-notifier.ts';
import { AWS_ENV, type Env, required } from './env.ts';
import { outbound } from './outbound.ts';
import { tenants } from './store.ts';

/** Web Push for browser authenticators in front of SNS mobile push. */
export const pushNotifier = (env: Env, base: BaseAwsDeps) =>
  new WebPushDeviceNotifier({
    next: new SnsDeviceNotifier({
      client: new SNSClient({}),
      platformApplicationArnTemplate: required(env, AWS_ENV.snsPlatformApplicationArn),
      logger: base.logger,
      clock: base.clock,
    }),
    tenants: tenants(env, base),
    logger: base.logger,
    // Web Push goes through the guarded outbound client (hardening rule 3).
    outbound: outbound(),
  });
