import { SNSClient } from '@aws-sdk/client-sns';
import type { BaseAwsDeps } from '../aws-deps.ts';
import { SnsDeviceNotifier } from '../sns-device-notifier.ts';
import { AWS_ENV, type Env, required } from './env.ts';

/**
 * SNS mobile push alone, without the Web Push sender: for functions that only register devices' platform
 * endpoints (the device API), so their bundle does not carry the Web Push library.
 */
export const mobilePush = (env: Env, base: BaseAwsDeps) =>
  new SnsDeviceNotifier({
    client: new SNSClient({}),
    platformApplicationArnTemplate: required(env, AWS_ENV.snsPlatformApplicationArn),
    logger: base.logger,
    clock: base.clock,
  });
