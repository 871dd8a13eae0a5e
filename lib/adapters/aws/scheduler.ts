import { SchedulerClient } from '@aws-sdk/client-scheduler';
import type { BaseAwsDeps } from '../aws-deps.ts';
import { EventBridgeScheduler } from '../eventbridge-scheduler.ts';
import { AWS_ENV, type Env, required } from './env.ts';

export const scheduler = (env: Env, base: BaseAwsDeps) =>
  new EventBridgeScheduler({
    client: new SchedulerClient({}),
    groupName: required(env, AWS_ENV.schedulerGroup),
    targetArn: required(env, AWS_ENV.schedulerTargetArn),
    roleArn: required(env, AWS_ENV.schedulerRoleArn),
    deadLetterArn: required(env, AWS_ENV.schedulerDeadLetterArn),
    clock: base.clock,
  });
